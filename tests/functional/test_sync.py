"""Incremental sync to S3 (moto, in process) and to the local file store."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from smtrain.core.errors import UsageError
from smtrain.files.sync import atomic_copy, default_transfer_config, file_digest, sync_directory, upload_file

BUCKET = "data-bucket"
MIB = 1024 * 1024


@pytest.fixture
def calls(s3: Any) -> Counter[str]:
    """How many times each S3 operation was called."""
    counter: Counter[str] = Counter()
    s3.meta.events.register("before-call.s3.*", lambda model, **_: counter.update([model.name]))
    return counter


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write(root / "train.csv", b"a,b\n1,2\n")
    write(root / "test.csv", b"a,b\n3,4\n")
    write(root / "nested" / "meta.json", b"{}")
    return root


def keys(s3: Any, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def test_first_sync_uploads_everything_with_its_digest(s3: Any, tree: Path) -> None:
    report = sync_directory(tree, f"s3://{BUCKET}/smtrain/data/", s3=s3, progress=False)
    assert (report.uploaded_files, report.unchanged_files) == (3, 0)
    assert report.uploaded_bytes == 8 + 8 + 2
    assert keys(s3) == ["smtrain/data/nested/meta.json", "smtrain/data/test.csv", "smtrain/data/train.csv"]
    head = s3.head_object(Bucket=BUCKET, Key="smtrain/data/train.csv")
    assert head["Metadata"] == {"sha256": file_digest(tree / "train.csv")}


def test_unchanged_resync_sends_nothing(s3: Any, tree: Path, calls: Counter[str]) -> None:
    uri = f"s3://{BUCKET}/smtrain/data"
    sync_directory(tree, uri, s3=s3, progress=False)
    calls.clear()
    report = sync_directory(tree, uri, s3=s3, progress=False)
    assert (report.uploaded_files, report.uploaded_bytes, report.unchanged_files) == (0, 0, 3)
    # Single-part objects: the listed ETag is the content's MD5, so no HeadObject is needed.
    assert calls == Counter({"ListObjectsV2": 1})


def test_only_changed_files_are_sent(s3: Any, tree: Path, calls: Counter[str]) -> None:
    uri = f"s3://{BUCKET}/p/"
    sync_directory(tree, uri, s3=s3, progress=False)
    write(tree / "train.csv", b"a,b\n9,9\n")  # same size, new content
    write(tree / "extra.csv", b"new")
    calls.clear()
    report = sync_directory(tree, uri, s3=s3, progress=False)
    assert (report.uploaded_files, report.uploaded_bytes, report.unchanged_files) == (2, 11, 2)
    assert calls["PutObject"] == 2
    assert s3.get_object(Bucket=BUCKET, Key="p/train.csv")["Body"].read() == b"a,b\n9,9\n"


def test_identical_objects_from_other_tools_are_kept(s3: Any, tree: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key="p/test.csv", Body=(tree / "test.csv").read_bytes())  # e.g. `aws s3 cp`
    assert sync_directory(tree, f"s3://{BUCKET}/p/", s3=s3, progress=False).uploaded_files == 2
    assert sync_directory(tree, f"s3://{BUCKET}/p/", s3=s3, progress=False).uploaded_files == 0


def test_same_size_different_content_without_our_digest_is_replaced(s3: Any, tree: Path) -> None:
    size = len((tree / "test.csv").read_bytes())
    s3.put_object(Bucket=BUCKET, Key="p/test.csv", Body=b"\0" * size)
    assert sync_directory(tree, f"s3://{BUCKET}/p/", s3=s3, progress=False).uploaded_files == 3


def test_multipart_objects_are_checked_by_their_stored_digest(s3: Any, tmp_path: Path, calls: Counter[str]) -> None:
    write(tmp_path / "big" / "big.bin", os.urandom(6 * MIB))
    config = default_transfer_config(threshold=5 * MIB, chunksize=5 * MIB)
    sync_directory(tmp_path / "big", f"s3://{BUCKET}/big/", s3=s3, progress=False, transfer_config=config)
    calls.clear()
    report = sync_directory(tmp_path / "big", f"s3://{BUCKET}/big/", s3=s3, progress=False, transfer_config=config)
    assert report.uploaded_files == 0
    assert calls == Counter({"ListObjectsV2": 1, "HeadObject": 1})


def test_large_files_go_multipart(s3: Any, tmp_path: Path, calls: Counter[str]) -> None:
    write(tmp_path / "big" / "big.bin", os.urandom(12 * MIB))
    config = default_transfer_config(threshold=5 * MIB, chunksize=5 * MIB)
    report = sync_directory(tmp_path / "big", f"s3://{BUCKET}/big/", s3=s3, progress=False, transfer_config=config)
    assert report.uploaded_bytes == 12 * MIB
    assert calls["UploadPart"] == 3 and calls["CompleteMultipartUpload"] == 1
    head = s3.head_object(Bucket=BUCKET, Key="big/big.bin")
    assert head["ETag"].strip('"').endswith("-3")
    assert head["Metadata"]["sha256"] == file_digest(tmp_path / "big" / "big.bin")
    again = sync_directory(tmp_path / "big", f"s3://{BUCKET}/big/", s3=s3, progress=False, transfer_config=config)
    assert again.uploaded_files == 0


def test_failed_multipart_upload_leaves_nothing_behind(s3: Any, tmp_path: Path, calls: Counter[str]) -> None:
    write(tmp_path / "big" / "big.bin", os.urandom(12 * MIB))
    parts: list[str] = []

    def network_drops_on_second_part(**event: Any) -> None:
        parts.append(event["event_name"])
        if len(parts) >= 2:
            raise RuntimeError("network gone")

    s3.meta.events.register("before-call.s3.UploadPart", network_drops_on_second_part)
    config = default_transfer_config(threshold=5 * MIB, chunksize=5 * MIB)
    with pytest.raises(RuntimeError, match="network gone"):
        sync_directory(tmp_path / "big", f"s3://{BUCKET}/big/", s3=s3, progress=False, transfer_config=config)
    assert calls["AbortMultipartUpload"] == 1
    assert keys(s3, "big/") == []
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_pending_multipart_uploads_are_visible(s3: Any) -> None:
    """The check above is meaningful: moto lists an upload nobody aborted."""
    s3.create_multipart_upload(Bucket=BUCKET, Key="orphan")
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"]] == ["orphan"]


def test_upload_file_puts_one_object_at_the_exact_key(s3: Any, tmp_path: Path) -> None:
    archive = write(tmp_path / "sourcedir.tar.gz", b"tarball")
    assert upload_file(archive, f"s3://{BUCKET}/smtrain/job-1/source/sourcedir.tar.gz", s3) == 7
    assert keys(s3) == ["smtrain/job-1/source/sourcedir.tar.gz"]
    upload_file(archive, f"s3://{BUCKET}/top.tar.gz", lambda: s3)  # a client factory works too
    assert "top.tar.gz" in keys(s3)


def test_missing_bucket_is_a_clear_error(s3: Any, tree: Path) -> None:
    from smtrain.core.errors import NotFoundError

    with pytest.raises(NotFoundError) as caught:
        sync_directory(tree, "s3://no-such-bucket/p/", s3=s3, progress=False)
    assert "SMTRAIN_BUCKET" in caught.value.hint and caught.value.where == "s3://no-such-bucket/p/"
    archive = write(tree.parent / "sourcedir.tar.gz", b"tarball")
    with pytest.raises(NotFoundError) as caught:  # boto3 wraps this one in S3UploadFailedError
        upload_file(archive, "s3://no-such-bucket/job/sourcedir.tar.gz", s3)
    assert caught.value.where == "s3://no-such-bucket/job/sourcedir.tar.gz"


# -- the local store ------------------------------------------------------------------


def test_file_store_sync_is_incremental(tree: Path, tmp_path: Path) -> None:
    store = tmp_path / "store" / "data"
    uri = store.as_uri() + "/"
    first = sync_directory(tree, uri, progress=False)
    assert (first.uploaded_files, first.unchanged_files) == (3, 0)
    assert (store / "nested" / "meta.json").read_bytes() == b"{}"
    assert sync_directory(tree, uri, progress=False).uploaded_files == 0
    write(tree / "test.csv", b"a,b\n5,6\n")
    again = sync_directory(tree, uri, progress=False)
    assert (again.uploaded_files, again.uploaded_bytes, again.unchanged_files) == (1, 8, 2)
    assert (store / "test.csv").read_bytes() == b"a,b\n5,6\n"


def test_interrupted_copy_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    source = write(tmp_path / "new.bin", os.urandom(3 * MIB))
    destination = write(tmp_path / "store" / "file.bin", b"old")

    def interrupted(sent: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_copy(source, destination, interrupted)
    assert destination.read_bytes() == b"old"
    assert sorted(p.name for p in destination.parent.iterdir()) == ["file.bin"]


def test_upload_file_to_the_store(tmp_path: Path) -> None:
    archive = write(tmp_path / "sourcedir.tar.gz", b"tarball")
    target = tmp_path / "store" / "job" / "source" / "sourcedir.tar.gz"
    upload_file(archive, target.as_uri())
    assert target.read_bytes() == b"tarball"


def test_bad_inputs(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        sync_directory(tmp_path / "missing", "file:///tmp/x/", progress=False)
    with pytest.raises(UsageError, match="s3:// or file://"):
        sync_directory(tree, "gs://bucket/x/", progress=False)


def test_progress_on_a_non_terminal_is_silent(tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sync_directory(tree, (tmp_path / "store").as_uri(), progress=True)
    assert capsys.readouterr() == ("", "")

"""The digests a sync remembers (smtrain/files/digests.py), against moto in process: an unchanged file is not read
again, a changed one is, whatever it kept; a damaged or unusable cache is never trusted nor fatal."""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import stat
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import boto3
import pytest

from smtrain.files import digests, sync
from smtrain.files.sync import sync_directory

BUCKET = "data-bucket"
URI = f"s3://{BUCKET}/p/"


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times sync opened each file (by relative name) to read it."""
    counter: Counter[str] = Counter()
    real = sync.open_regular

    def counting(name: str, path: Path) -> Any:
        counter[name] += 1
        return real(name, path)

    monkeypatch.setattr(sync, "open_regular", counting)
    return counter


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by the test count as settled at once (the default waits RACY_SECONDS after a change)."""
    monkeypatch.setattr(digests, "RACY_SECONDS", 0.0)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "nested").mkdir(parents=True)
    (root / "train.csv").write_bytes(b"a,b\n1,2\n")
    (root / "nested" / "test.csv").write_bytes(b"a,b\n3,4\n")
    return root


def cache_file() -> Path:
    return digests.default_path()


def remote(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


@pytest.mark.usefixtures("settled")
def test_an_unchanged_resync_reads_no_file(s3: Any, data: Path, opened: Counter[str]) -> None:
    first = sync_directory(data, URI, s3=s3, progress=False)
    assert first.uploaded_files == 2
    assert opened == Counter({"train.csv": 2, "nested/test.csv": 2})  # hashed, then sent
    opened.clear()
    again = sync_directory(data, URI, s3=s3, progress=False)
    assert (again.uploaded_files, again.unchanged_files) == (0, 2)
    assert opened == Counter()  # the MD5 came back as the ETag of the upload and was remembered


@pytest.mark.usefixtures("settled")
def test_a_file_rewritten_in_place_with_size_and_mtime_restored_is_sent(s3: Any, data: Path,
                                                                        opened: Counter[str]) -> None:
    sync_directory(data, URI, s3=s3, progress=False)
    path = data / "train.csv"
    before = path.stat()
    with open(path, "r+b") as handle:  # same inode, same size
        handle.write(b"x,y")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_ino, path.stat().st_size, path.stat().st_mtime_ns) == \
        (before.st_ino, before.st_size, before.st_mtime_ns)
    opened.clear()
    report = sync_directory(data, URI, s3=s3, progress=False)
    assert report.uploaded_files == 1  # its ctime moved: read again, and the content differs
    assert remote(s3, "p/train.csv") == b"x,y\n1,2\n"
    assert opened["nested/test.csv"] == 0


@pytest.mark.usefixtures("settled")
def test_a_file_replaced_by_another_of_the_same_size_and_mtime_is_sent(s3: Any, data: Path) -> None:
    sync_directory(data, URI, s3=s3, progress=False)
    path = data / "train.csv"
    before = path.stat()
    replacement = data.parent / "replacement.csv"
    replacement.write_bytes(b"a,b\n7,7\n")
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, path)  # a new inode with the old size and mtime
    assert path.stat().st_ino != before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns
    assert sync_directory(data, URI, s3=s3, progress=False).uploaded_files == 1
    assert remote(s3, "p/train.csv") == b"a,b\n7,7\n"


def test_digests_of_a_file_changed_moments_before_are_not_kept(s3: Any, data: Path, opened: Counter[str]) -> None:
    """Within a clock tick a change could keep the same stat data: such a file is read again next time."""
    sync_directory(data, URI, s3=s3, progress=False)
    opened.clear()
    assert sync_directory(data, URI, s3=s3, progress=False).uploaded_files == 0
    assert opened == Counter({"train.csv": 1, "nested/test.csv": 1})  # MD5 read for the comparison


@pytest.mark.usefixtures("settled")
def test_a_damaged_cache_is_set_aside_and_the_sync_compares_content(s3: Any, data: Path,
                                                                    opened: Counter[str]) -> None:
    sync_directory(data, URI, s3=s3, progress=False)
    (data / "train.csv").write_bytes(b"a,b\n5,5\n")
    cache_file().write_bytes(b"this is not a database" * 100)
    opened.clear()
    report = sync_directory(data, URI, s3=s3, progress=False)
    assert report.uploaded_files == 1 and remote(s3, "p/train.csv") == b"a,b\n5,5\n"
    assert opened["nested/test.csv"] == 1  # nothing remembered: read to compare
    with closing(sqlite3.connect(cache_file())) as db, db:  # a working cache again
        assert db.execute("SELECT count(*) FROM digests").fetchone() == (2,)


@pytest.mark.usefixtures("settled")
def test_a_cache_with_wrong_entries_for_another_stat_is_not_trusted(s3: Any, data: Path) -> None:
    sync_directory(data, URI, s3=s3, progress=False)
    with closing(sqlite3.connect(cache_file())) as db, db:
        db.execute("UPDATE digests SET stat = 'elsewhere', md5 = ?, sha256 = ?", ("0" * 32, "0" * 64))
    (data / "train.csv").write_bytes(b"a,b\n6,6\n")
    assert sync_directory(data, URI, s3=s3, progress=False).uploaded_files == 1
    assert remote(s3, "p/train.csv") == b"a,b\n6,6\n"


def test_an_unusable_cache_location_costs_only_speed(s3: Any, data: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert sync_directory(data, URI, s3=s3, progress=False).uploaded_files == 2
    assert sync_directory(data, URI, s3=s3, progress=False).uploaded_files == 0
    assert blocker.read_text() == ""


@pytest.mark.usefixtures("settled")
def test_the_cache_is_readable_by_its_owner_only(s3: Any, data: Path) -> None:
    old = os.umask(0o022)
    try:
        sync_directory(data, URI, s3=s3, progress=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(cache_file().stat().st_mode) == 0o600
    assert stat.S_IMODE(cache_file().parent.stat().st_mode) == 0o700


def test_a_small_file_goes_up_with_its_sha256_as_the_request_checksum(s3: Any, data: Path) -> None:
    sent: list[dict[str, str]] = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(
        {name.lower(): value.decode() if isinstance(value, bytes) else value
         for name, value in request.headers.items()}))
    sync_directory(data, URI, s3=s3, progress=False)
    content = (data / "train.csv").read_bytes()
    headers = {h["x-amz-meta-sha256"]: h for h in sent}[hashlib.sha256(content).hexdigest()]
    assert headers["x-amz-checksum-sha256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert not any(name.startswith("x-amz-checksum-crc") for h in sent for name in h)  # botocore computed none


@pytest.mark.usefixtures("settled")
def test_an_etag_of_a_kms_upload_is_not_taken_for_an_md5(s3: Any, data: Path) -> None:
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
    sync_directory(data, URI, s3=s3, progress=False, kms_key=key)
    with closing(sqlite3.connect(cache_file())) as db, db:
        assert {md5 for (md5,) in db.execute("SELECT md5 FROM digests")} == {""}
    assert sync_directory(data, URI, s3=s3, progress=False, kms_key=key).uploaded_files == 0

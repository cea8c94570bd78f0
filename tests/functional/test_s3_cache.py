"""s3:// data for the local backend: the download cache, against moto (in process)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import boto3
import pytest

from smtrain.core.errors import SmtrainError, UsageError
from smtrain.files.s3_cache import cache_root, fetch_s3, iter_cached
from tests.functional.conftest import DATA_BUCKET


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def downloads(client: Any) -> list[str]:
    """The keys GetObject is asked for, through ``client``."""
    keys: list[str] = []
    client.meta.events.register("provide-client-params.s3.GetObject", lambda params, **_: keys.append(params["Key"]))
    return keys


def put(s3: Any, key: str, body: bytes) -> None:
    s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)


def test_a_prefix_downloads_all_its_objects_into_one_folder(creds: None, s3: Any) -> None:
    put(s3, "train/a.csv", b"a\n")
    put(s3, "train/nested/b.csv", b"b\n")
    put(s3, "train-other.csv", b"not in the folder\n")
    folder = fetch_s3(f"s3://{DATA_BUCKET}/train", s3=s3)
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == ["a.csv", "nested/b.csv"]
    assert (folder / "nested" / "b.csv").read_bytes() == b"b\n"
    assert folder == fetch_s3(f"s3://{DATA_BUCKET}/train/", s3=s3)  # the same folder, with or without the slash


def test_a_key_naming_one_object_gives_that_file(creds: None, s3: Any) -> None:
    put(s3, "models/model.tar.gz", b"model")
    path = fetch_s3(f"s3://{DATA_BUCKET}/models/model.tar.gz", s3=s3)
    assert path.name == "model.tar.gz" and path.read_bytes() == b"model"


def test_an_unchanged_etag_is_never_downloaded_again(creds: None, s3: Any) -> None:
    put(s3, "train/a.csv", b"a\n")
    put(s3, "train/b.csv", b"b\n")
    fetched = downloads(s3)
    fetch_s3(f"s3://{DATA_BUCKET}/train/", s3=s3)
    fetch_s3(f"s3://{DATA_BUCKET}/train/", s3=s3)
    assert sorted(fetched) == ["train/a.csv", "train/b.csv"]
    put(s3, "train/b.csv", b"changed\n")  # a new ETag: only that object again
    folder = fetch_s3(f"s3://{DATA_BUCKET}/train/", s3=s3)
    assert sorted(fetched) == ["train/a.csv", "train/b.csv", "train/b.csv"]
    assert (folder / "b.csv").read_bytes() == b"changed\n"
    assert len(list(iter_cached())) == 3  # content-addressed: each (key, ETag) stored once


def test_many_objects_are_listed_page_after_page(creds: None, s3: Any) -> None:
    for i in range(1005):  # list_objects_v2 answers 1000 keys a page
        put(s3, f"many/{i:04d}.txt", b"x")
    folder = fetch_s3(f"s3://{DATA_BUCKET}/many/", s3=s3, progress=False)
    assert len(list(folder.iterdir())) == 1005


def test_the_cache_is_private_and_under_the_users_cache_dir(creds: None, s3: Any, tmp_path: Path) -> None:
    put(s3, "train/a.csv", b"a\n")
    folder = fetch_s3(f"s3://{DATA_BUCKET}/train/", s3=s3)
    root = cache_root()
    assert root == tmp_path / "cache" / "smtrain" / "s3"  # conftest sets XDG_CACHE_HOME
    assert folder.is_relative_to(root)
    for path in (root, root / "blobs", root / "views"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


@pytest.mark.parametrize("key", ["train/../../escape.txt", "train//etc/passwd"])
def test_keys_that_would_leave_the_folder_are_refused(creds: None, s3: Any, tmp_path: Path, key: str) -> None:
    put(s3, key, b"x")
    with pytest.raises(UsageError) as caught:
        fetch_s3(f"s3://{DATA_BUCKET}/train/", s3=s3)
    assert "outside the download folder" in caught.value.what
    assert not (tmp_path / "escape.txt").exists() and list(iter_cached()) == []


def test_an_empty_prefix_is_a_clear_error(creds: None, s3: Any) -> None:
    with pytest.raises(UsageError, match=f"no objects at s3://{DATA_BUCKET}/nothing/"):
        fetch_s3(f"s3://{DATA_BUCKET}/nothing/", s3=s3)


def test_missing_credentials_name_the_uri() -> None:
    with pytest.raises(UsageError) as caught:  # conftest cleared every AWS_* credential; signing fails first
        fetch_s3("s3://some-bucket/train/")
    assert caught.value.what == "no AWS credentials to download s3://some-bucket/train/"
    assert "AWS_PROFILE" in caught.value.hint


def test_a_missing_bucket_names_the_uri(creds: None, s3: Any) -> None:
    with pytest.raises(SmtrainError) as caught:
        fetch_s3("s3://no-such-bucket/train/", s3=boto3.client("s3", region_name="us-east-1"))
    assert caught.value.where == "s3://no-such-bucket/train/"


CHANNEL_SCRIPT = """
import os
assert open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "a.csv")).read() == "a,b\\n1,2\\n"
assert open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "more", "b.csv")).read() == "b\\n"
print("read both")
"""


def local_jobs(tmp_path: Path) -> Any:
    from tests.functional.test_local_training import Jobs

    return Jobs(tmp_path)


def test_a_local_job_reads_an_s3_channel(moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)  # the job's supervisor is another process: it reaches moto's server
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="local-channel")
    client.put_object(Bucket="local-channel", Key="train/a.csv", Body=b"a,b\n1,2\n")
    client.put_object(Bucket="local-channel", Key="train/more/b.csv", Body=b"b\n")
    jobs = local_jobs(tmp_path)
    request = jobs.request("job-s3", CHANNEL_SCRIPT)
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "s3://local-channel/train/"
    jobs.sm.create_training_job(**request)
    job = jobs.wait("job-s3")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://local-channel/train/"


def test_a_local_job_without_credentials_fails_naming_the_uri(tmp_path: Path) -> None:
    jobs = local_jobs(tmp_path)
    request = jobs.request("job-nocreds", CHANNEL_SCRIPT)
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "s3://local-channel/train/"
    jobs.sm.create_training_job(**request)
    job = jobs.wait("job-nocreds")
    assert job["TrainingJobStatus"] == "Failed"
    assert "no AWS credentials to download s3://local-channel/train/" in job["FailureReason"]


def test_local_serving_takes_model_data_from_s3(creds: None, s3: Any, tmp_path: Path) -> None:
    import io
    import tarfile

    from smtrain.backends.local.serving.container import unpack

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("model.txt")
        info.size = 6
        archive.addfile(info, io.BytesIO(b"fitted"))
    put(s3, "job-1/output/model.tar.gz", buffer.getvalue())
    unpack(f"s3://{DATA_BUCKET}/job-1/output/model.tar.gz", tmp_path / "model", "model data")
    assert (tmp_path / "model" / "model.txt").read_bytes() == b"fitted"


def test_a_local_processing_job_reads_an_s3_input(moto_url: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from smtrain.api.session import Session
    from smtrain.core.uris import to_path

    for name, value in {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)  # the job's supervisor is another process: it reaches moto's server
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="local-processing")
    client.put_object(Bucket="local-processing", Key="raw/a.csv", Body=b"x\n1\n2\n")
    script = tmp_path / "count.py"
    script.write_text("import pathlib, sys\nrows = (pathlib.Path(sys.argv[1]) / 'a.csv').read_text()\n"
                      "(pathlib.Path(sys.argv[2]) / 'rows.txt').write_text(str(len(rows.splitlines())))\n")
    session = Session(quiet=True, home=str(tmp_path / ".smtrain"), framework_version="current")
    job = session.process(str(script), job_name="proc-s3", inputs={"raw": "s3://local-processing/raw/"},
                          outputs={"out": "/opt/ml/processing/out"},
                          arguments=["/opt/ml/processing/input/raw", "/opt/ml/processing/out"])
    assert job.status == "Completed", job.description.get("FailureReason")
    (output,) = job.description["ProcessingOutputConfig"]["Outputs"]
    assert (to_path(output["S3Output"]["S3Uri"]) / "rows.txt").read_text() == "3"

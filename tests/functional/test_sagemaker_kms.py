"""--kms-key / SMTRAIN_KMS_KEY: SSE-KMS on the source upload and the data sync, and the
job output's KmsKeyId, as the SDK's uploads with a ``kms_key`` do (moto, in process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smtrain.api.session import Session
from smtrain.backends.sagemaker import SageMakerBackend
from smtrain.core.config import Config, load_config

REGION = "eu-west-1"
BUCKET = "encrypted-bucket"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto with a bucket and a KMS key; yields the key's ARN."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]


def recording_backend(config: Config) -> tuple[SageMakerBackend, list[tuple[str, dict[str, Any]]]]:
    """The backend, and every S3 write request it sends (operation, params)."""
    backend = SageMakerBackend(config, sleep=lambda _: None)
    sent: list[tuple[str, dict[str, Any]]] = []
    backend.s3().meta.events.register(
        "before-parameter-build.s3.*", lambda model, params, **_: sent.append((model.name, dict(params))))
    return backend, sent


def writes(sent: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str, str]]:
    return [(op, p["Key"], f"{p.get('ServerSideEncryption')}|{p.get('SSEKMSKeyId')}")
            for op, p in sent if op in ("PutObject", "CreateMultipartUpload")]


def test_source_upload_and_data_sync_are_encrypted_with_the_key(aws: str, tmp_path: Path) -> None:
    backend, sent = recording_backend(Config(backend="sagemaker", region=REGION, bucket=BUCKET, kms_key=aws))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print('hi')\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("a,b\n1,2\n")
    backend.upload_source(tmp_path / "src", "train.py", f"s3://{BUCKET}/smtrain/job-1/source/sourcedir.tar.gz")
    backend.sync(tmp_path / "data", f"s3://{BUCKET}/smtrain/job-1/input/train/", progress=False)
    assert writes(sent) == [
        ("PutObject", "smtrain/job-1/source/sourcedir.tar.gz", f"aws:kms|{aws}"),
        ("PutObject", "smtrain/job-1/input/train/train.csv", f"aws:kms|{aws}"),
    ]
    s3 = boto3.client("s3", region_name=REGION)
    head = s3.head_object(Bucket=BUCKET, Key="smtrain/job-1/input/train/train.csv")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", aws)
    # An encrypted object's ETag is no MD5: the next sync still finds it current.
    assert backend.sync(tmp_path / "data", f"s3://{BUCKET}/smtrain/job-1/input/train/", progress=False
                        ).uploaded_files == 0


def test_without_a_key_uploads_use_the_buckets_default(aws: str, tmp_path: Path) -> None:
    backend, sent = recording_backend(Config(backend="sagemaker", region=REGION, bucket=BUCKET))
    (tmp_path / "data").mkdir()  # not tmp_path itself: it holds the test's $XDG_CACHE_HOME
    (tmp_path / "data" / "train.csv").write_text("a\n1\n")
    backend.sync(tmp_path / "data", f"s3://{BUCKET}/d/", progress=False)
    assert writes(sent) == [("PutObject", "d/train.csv", "None|None")]


def test_the_setting_encrypts_the_job_output(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    config = load_config({"backend": "sagemaker", "region": REGION, "role": ROLE},
                         environ={"SMTRAIN_KMS_KEY": "alias/smtrain"}, cwd=tmp_path)
    session = Session.__new__(Session)
    session.config, session.backend = config, SageMakerBackend(config)
    spec = session.training_spec("train.py", source_dir=tmp_path, channels={"train": "s3://data/train/"},
                                 job_name="job-1", framework_version="1.2-1")
    request = next(step for step in session.plan_fit(spec, root="s3://b/smtrain") if step.step == "training")
    assert request.params["OutputDataConfig"] == {  # type: ignore[union-attr]
        "S3OutputPath": "s3://b/smtrain/output/", "KmsKeyId": "alias/smtrain"}
    # --output-kms-key names a different key for the output only.
    spec = session.training_spec("train.py", source_dir=tmp_path, channels={"train": "s3://data/train/"},
                                 job_name="job-1", framework_version="1.2-1", output_kms_key="alias/output")
    request = next(step for step in session.plan_fit(spec, root="s3://b/smtrain") if step.step == "training")
    assert request.params["OutputDataConfig"]["KmsKeyId"] == "alias/output"  # type: ignore[union-attr]

"""The sagemaker backend against a moto server, reached the way users reach
any AWS-compatible endpoint: through ``AWS_ENDPOINT_URL``."""

from __future__ import annotations

import io
import socket
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from smtrain.aws.session import AwsSession
from smtrain.aws.translation import translating
from smtrain.backends.sagemaker import SageMakerBackend
from smtrain.core.config import Config
from smtrain.core.errors import AwsError
from smtrain.execution.waiting import wait_for
from smtrain.planning.kinds import TRAINING
from smtrain.planning.plan import plan_fit
from smtrain.planning.spec import TrainingSpec
from smtrain.planning.steps import ApiCall, method_name, resolve
from tests.helpers import reset_moto

REGION = "eu-west-1"
MOTO_ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{MOTO_ACCOUNT}:role/SageMakerRole"
BUCKET = f"sagemaker-{REGION}-{MOTO_ACCOUNT}"


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield moto_url
    reset_moto(moto_url)


@pytest.fixture
def backend(aws: str) -> SageMakerBackend:
    return SageMakerBackend(Config(backend="sagemaker", region=REGION, role=ROLE), sleep=lambda _: None)


def bucket_names() -> list[str]:
    return [b["Name"] for b in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]]


def test_default_bucket_is_created_only_when_uploading(backend: SageMakerBackend, tmp_path: Path) -> None:
    assert backend.artifact_root() == f"s3://{BUCKET}/smtrain"
    assert bucket_names() == []  # planning created nothing
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "train.csv").write_text("a,b\n1,2\n")
    uri = f"{backend.artifact_root()}/data/train/"
    report = backend.sync(tmp_path / "train", uri, progress=False)
    assert (report.uploaded_files, report.uploaded_bytes) == (1, 8)
    assert bucket_names() == [BUCKET]
    location = boto3.client("s3", region_name=REGION).get_bucket_location(Bucket=BUCKET)
    assert location["LocationConstraint"] == REGION
    assert backend.sync(tmp_path / "train", uri, progress=False).uploaded_files == 0


def test_upload_source_packs_without_secrets(backend: SageMakerBackend, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text("print('hi')\n")
    (source / ".env").write_text("AWS_SECRET_ACCESS_KEY=do-not-ship\n")
    uri = f"{backend.artifact_root()}/job-1/source/sourcedir.tar.gz"
    backend.upload_source(source, "train.py", uri)
    key = "smtrain/job-1/source/sourcedir.tar.gz"
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)
    with tarfile.open(fileobj=io.BytesIO(body["Body"].read())) as archive:
        assert archive.getnames() == ["train.py"]


def test_training_request_is_accepted_and_followed(backend: SageMakerBackend, tmp_path: Path) -> None:
    spec = TrainingSpec(entry_point="train.py", source_dir=tmp_path, channels={"train": "s3://data/train/"},
                        hyperparameters={"max_depth": 3}, job_name="job-1")
    image = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    plan = plan_fit(spec, backend.config, root=backend.artifact_root(), image_uri=image, role=backend.role())
    create = next(step for step in plan if isinstance(step, ApiCall))
    client = backend.sagemaker()
    getattr(client, method_name(create.operation))(**resolve(create.params, {}))
    statuses: list[str] = []
    final = wait_for(lambda: client.describe_training_job(TrainingJobName="job-1"), "TrainingJobStatus",
                     ("Completed",), ("Failed", "Stopped"), sleep=backend.sleep,
                     on_status=lambda status, _: statuses.append(status), what="training job job-1")
    assert final["HyperParameters"]["max_depth"] == "3"
    assert statuses[-1] == "Completed"


def test_job_log_reads_cloudwatch(backend: SageMakerBackend) -> None:
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=TRAINING.log_group)
    logs.create_log_stream(logGroupName=TRAINING.log_group, logStreamName="job-1/algo-1-1")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=TRAINING.log_group, logStreamName="job-1/algo-1-1",
                        logEvents=[{"timestamp": now, "message": "hello"}, {"timestamp": now + 1, "message": "bye"}])
    assert list(backend.job_log(TRAINING, "job-1", follow=True, is_done=lambda: True)) == ["hello", "bye"]


def test_unreachable_endpoint_is_translated(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    client: Any = AwsSession(region=REGION).client("sagemaker")
    with pytest.raises(AwsError) as caught, translating(where="ListTrainingJobs"):
        client.list_training_jobs()
    assert caught.value.code == "EndpointConnectionError"
    assert "AWS_ENDPOINT_URL" in caught.value.hint

"""sm.transform(...) on the sagemaker backend against a moto server: the model and the job are created as planned,
followed to the end, and the log is read from /aws/sagemaker/TransformJobs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

import smtrain
from smtrain.core.errors import UsageError
from smtrain.planning.kinds import TRANSFORM
from tests.helpers import reset_moto

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.fixture
def session(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[smtrain.Session]:
    for key, value in {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "SMTRAIN_POLL_SECONDS": "0"}.items():
        monkeypatch.setenv(key, value)
    yield smtrain.Session(backend="sagemaker", region=REGION, role=ROLE, quiet=True)
    reset_moto(moto_url)


def trained(name: str) -> None:
    """A Completed training job as `smtrain fit` creates it (moto completes it at once)."""
    boto3.client("sagemaker", region_name=REGION).create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"penguins.py"',
                         "sagemaker_submit_directory": '"s3://b/smtrain/penguins-sm/source/x/sourcedir.tar.gz"'},
        OutputDataConfig={"S3OutputPath": "s3://b/smtrain/output/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})


def test_a_transform_on_sagemaker_creates_the_model_and_the_job(session: smtrain.Session) -> None:
    trained("penguins-sm")
    job = session.transform("penguins-sm", input="s3://b/batch/", output_uri="s3://b/out/", job_name="sm-batch-1",
                            input_filter="$[1:]", join_source="Input", instance_type="ml.c5.xlarge")
    client = boto3.client("sagemaker", region_name=REGION)
    model = client.describe_model(ModelName="sm-batch-1")
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "penguins.py"
    described = client.describe_transform_job(TransformJobName="sm-batch-1")
    assert described["ModelName"] == "sm-batch-1"
    assert described["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://b/batch/"
    assert described["TransformResources"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1}
    assert job.status == "Completed"


def test_a_local_output_path_is_refused_on_sagemaker(session: smtrain.Session, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as refused:
        session.transform("penguins-sm", input="s3://b/batch/", output_uri=str(tmp_path))
    assert "output_uri" in str(refused.value)


def test_the_log_is_read_from_the_transform_jobs_group(session: smtrain.Session) -> None:
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/aws/sagemaker/TransformJobs")
    logs.create_log_stream(logGroupName="/aws/sagemaker/TransformJobs", logStreamName="sm-batch-2/i-0abc-1700000000")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/aws/sagemaker/TransformJobs", logStreamName="sm-batch-2/i-0abc-1700000000",
                        logEvents=[{"timestamp": now, "message": "batch started"}])
    lines = list(session.backend.job_log(TRANSFORM, "sm-batch-2", follow=True, is_done=lambda: True))
    assert lines == ["batch started"]


def test_ls_on_sagemaker_lists_the_transform_job(session: smtrain.Session) -> None:
    from smtrain.runs.store import list_runs

    trained("penguins-ls")
    session.transform("penguins-ls", input="s3://b/batch/", output_uri="s3://b/out/", job_name="sm-batch-ls")
    runs, _ = list_runs(session.config, "sagemaker", client=boto3.client("sagemaker", region_name=REGION))
    assert [(run.name, run.status) for run in runs if run.kind == "transform"] == [("sm-batch-ls", "Completed")]

"""`sm.process` and `sm.evaluate` on the sagemaker backend, against moto: the code and local inputs are
uploaded to S3 where the request says, moto records the job as sent, and the evaluation job gets the
training job's model.tar.gz as its input ``model``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smtrain import Session
from smtrain.planning.kinds import PROCESSING

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
BUCKET = "proc-bucket"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        yield boto3.client("sagemaker", region_name=REGION)


def session() -> Session:
    return Session(backend="sagemaker", region=REGION, role=ROLE, bucket=BUCKET, quiet=True)


def keys() -> set[str]:
    return {o["Key"] for o in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_process_uploads_the_code_and_the_inputs_and_creates_the_job(aws: Any, tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "penguins.csv").write_text("species\nAdelie\n")
    job = session().process(str(REPO / "entry_points/penguins_preprocess.py"), job_name="prep-1",
                            inputs={"raw": f"{tmp_path / 'raw'}:/opt/ml/processing/input"},
                            outputs={"train": "/opt/ml/processing/train"}, arguments=["--test-size", "0.3"],
                            instance_type="ml.m5.large", wait=False)
    described = aws.describe_processing_job(ProcessingJobName="prep-1")
    assert job.name == "prep-1"
    inputs = {i["InputName"]: i["S3Input"] for i in described["ProcessingInputs"]}
    code = inputs["code"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")
    assert code in keys() and code.endswith("/code/penguins_preprocess.py")
    raw = inputs["raw"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")
    assert f"{raw}/penguins.csv" in keys()
    assert described["AppSpecification"]["ContainerArguments"] == ["--test-size", "0.3"]
    assert described["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == \
        f"s3://{BUCKET}/smtrain/prep-1/output/train"


def test_a_source_dir_uploads_the_archive_and_the_sdks_runproc(aws: Any) -> None:
    session().process("penguins_preprocess.py", source_dir=str(REPO / "entry_points"), job_name="prep-2",
                      instance_type="ml.m5.large", wait=False)
    described = aws.describe_processing_job(ProcessingJobName="prep-2")
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")
              for i in described["ProcessingInputs"]}
    assert {inputs["code"], inputs["entrypoint"]} <= keys()
    runproc = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=inputs["entrypoint"])
    assert runproc["Body"].read().decode().rstrip().endswith('python penguins_preprocess.py "$@"')


def test_evaluate_gets_the_training_jobs_model(aws: Any, tmp_path: Path) -> None:
    aws.create_training_job(
        TrainingJobName="penguins-1", RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/smtrain/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "X_test.csv").write_text("a\n1\n")
    session().evaluate("penguins-1", str(REPO / "entry_points/penguins_evaluate.py"),
                       inputs={"test": str(tmp_path / "test")}, job_name="penguins-1-eval",
                       instance_type="ml.m5.large", wait=False)
    described = aws.describe_processing_job(ProcessingJobName="penguins-1-eval")
    inputs = {i["InputName"]: i["S3Input"] for i in described["ProcessingInputs"]}
    model = aws.describe_training_job(TrainingJobName="penguins-1")["ModelArtifacts"]["S3ModelArtifacts"]
    assert inputs["model"] == {**inputs["model"], "S3Uri": model, "LocalPath": "/opt/ml/processing/model"}
    assert inputs["test"]["LocalPath"] == "/opt/ml/processing/test"
    (output,) = described["ProcessingOutputConfig"]["Outputs"]
    assert (output["OutputName"], output["S3Output"]["LocalPath"]) == ("evaluation", "/opt/ml/processing/evaluation")
    tags = aws.list_tags(ResourceArn=described["ProcessingJobArn"])["Tags"]
    assert {"Key": "smtrain:evaluates", "Value": "penguins-1"} in tags


def test_show_finds_the_evaluation_of_a_sagemaker_run(aws: Any, tmp_path: Path) -> None:
    import json

    from smtrain.runs import store

    test_evaluate_gets_the_training_jobs_model(aws, tmp_path)
    described = aws.describe_processing_job(ProcessingJobName="penguins-1-eval")
    if described["ProcessingJobStatus"] != "Completed":
        pytest.skip(f"moto left the processing job {described['ProcessingJobStatus']}")
    uri = described["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] + "/evaluation.json"
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=key, Body=json.dumps(
        {"multiclass_classification_metrics": {"accuracy": {"value": 0.5}}}).encode())
    config = session().config
    run = store.get_run(config, "penguins-1", source="sagemaker")
    assert run.evaluation_job == "penguins-1-eval" and run.metrics["evaluation:accuracy"] == 0.5


def test_ls_on_sagemaker_lists_smtrain_processing_jobs_and_no_others(aws: Any, tmp_path: Path) -> None:
    from smtrain.core.config import Config
    from smtrain.runs.store import list_runs

    session().process(str(REPO / "entry_points/penguins_preprocess.py"), job_name="prep-listed",
                      instance_type="ml.m5.large", wait=False)
    aws.create_processing_job(  # not smtrain's: no smtrain:managed tag
        ProcessingJobName="someone-elses", RoleArn=ROLE, AppSpecification={"ImageUri": IMAGE},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 30}})
    runs, total = list_runs(Config(backend="sagemaker", region=REGION), "sagemaker", client=aws)
    processing = [(run.name, run.kind, run.backend) for run in runs if run.kind == "processing"]
    assert processing == [("prep-listed", "processing", "sagemaker")]
    assert total == len(runs)


def test_the_log_is_read_from_the_processing_jobs_group(aws: Any) -> None:
    logs = boto3.client("logs", region_name=REGION)
    group, stream = "/aws/sagemaker/ProcessingJobs", "prep-logs/algo-1-1700000000"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "splitting the data"}])
    assert list(session().backend.job_log(PROCESSING, "prep-logs", follow=True, is_done=lambda: True)) == [
        "splitting the data"]

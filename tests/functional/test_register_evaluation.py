"""register --evaluation: the package carries evaluation.json as ModelMetrics.ModelQuality.Statistics, as SDK v2's
``Model.register(model_metrics=ModelMetrics(model_statistics=MetricsSource(...)))`` sends it (captured against
moto: tests/fixtures/parity/sdk_v2/capture_register.py), against moto; bad evaluation jobs get clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smtrain import Session
from smtrain.core.errors import ArgumentError, NotFoundError
from smtrain.planning.steps import ApiCall

REPO = Path(__file__).resolve().parents[2]
CAPTURED = json.loads((REPO / "tests/fixtures/parity/sdk_v2/register_requests.json").read_text())
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
BUCKET = "parity-bucket"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
REPORT = {"multiclass_classification_metrics": {"accuracy": {"value": 0.96, "standard_deviation": "NaN"}}}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_training_job(
            TrainingJobName="penguins-1", RoleArn=ROLE,
            AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            HyperParameters={"sagemaker_program": '"penguins.py"',
                             "sagemaker_submit_directory": f'"s3://{BUCKET}/smtrain/penguins-1/source.tar.gz"'},
            OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/smtrain/output"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 3600})
        for name, output in (("penguins-eval-1", "evaluation"), ("penguins-eval-missing", "evaluation"),
                             ("penguins-prep-1", "train")):
            sagemaker.create_processing_job(
                ProcessingJobName=name, RoleArn=ROLE,
                AppSpecification={"ImageUri": IMAGE, "ContainerEntrypoint": ["python3", "evaluate.py"]},
                ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                       "VolumeSizeInGB": 30}},
                ProcessingOutputConfig={"Outputs": [{"OutputName": output, "S3Output": {
                    "S3Uri": f"s3://{BUCKET}/smtrain/{name}/{output}", "LocalPath": f"/opt/ml/processing/{output}",
                    "S3UploadMode": "EndOfJob"}}]})
        s3.put_object(Bucket=BUCKET, Key="smtrain/penguins-eval-1/evaluation/evaluation.json",
                      Body=json.dumps(REPORT).encode())
        yield sagemaker


def session() -> Session:
    return Session(backend="sagemaker", region=REGION, role=ROLE, bucket=BUCKET, quiet=True)


def package_request(plan: Any) -> dict[str, Any]:
    return next(s.params for s in plan if isinstance(s, ApiCall) and s.operation == "CreateModelPackage")


def test_model_metrics_equal_what_sdk_v2_sends(aws: Any) -> None:
    plan = session().plan_register("penguins-1", group="penguins", image_uri=IMAGE, evaluation="penguins-eval-1")
    request = package_request(plan)
    assert CAPTURED["evaluation"] == f"s3://{BUCKET}/smtrain/penguins-eval-1/evaluation/evaluation.json"
    assert request["ModelMetrics"] == CAPTURED["request"]["ModelMetrics"]
    # the rest of the request is register's own, as without an evaluation
    plain = package_request(session().plan_register("penguins-1", group="penguins", image_uri=IMAGE))
    assert {k: v for k, v in request.items() if k != "ModelMetrics"} == plain


def test_the_registered_package_carries_the_evaluation(aws: Any) -> None:
    package = session().register("penguins-1", group="penguins", image_uri=IMAGE, evaluation="penguins-eval-1")
    described = aws.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri": f"s3://{BUCKET}/smtrain/penguins-eval-1/evaluation/evaluation.json"}


def test_the_evaluation_metrics_are_read_from_the_report(aws: Any) -> None:
    assert session().evaluation("penguins-eval-1") == {"accuracy": 0.96}


def test_a_missing_evaluation_job_is_not_found(aws: Any) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        session().register("penguins-1", group="penguins", image_uri=IMAGE, evaluation="nope")
    assert not aws.list_model_package_groups()["ModelPackageGroupSummaryList"]


@pytest.mark.parametrize("job, says", [
    ("penguins-eval-missing", "wrote no evaluation.json"),
    ("penguins-prep-1", "has no output named 'evaluation'"),
])
def test_an_evaluation_job_without_a_report_names_the_argument(aws: Any, job: str, says: str) -> None:
    with pytest.raises(ArgumentError, match=says) as caught:
        session().register("penguins-1", group="penguins", image_uri=IMAGE, evaluation=job)
    assert caught.value.argument == "evaluation"
    assert "--evaluation" not in str(caught.value)
    assert not aws.list_model_package_groups()["ModelPackageGroupSummaryList"]


def test_models_lists_the_evaluation_metrics_next_to_the_training_ones(aws: Any) -> None:
    from smtrain.api.models import list_versions

    sm = session()
    sm.register("penguins-1", group="penguins", image_uri=IMAGE, evaluation="penguins-eval-1")
    (version,) = list_versions(sm.backend, "penguins")
    assert version["TrainingJobName"] == "penguins-1"
    assert version["EvaluationMetrics"] == {"accuracy": 0.96}

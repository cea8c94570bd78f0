"""Hostile or broken evaluation reports: clear errors naming the argument, nothing registered, bounded reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smtrain import Session
from smtrain.api.evaluation import REPORT_MAX_BYTES
from smtrain.core.errors import ArgumentError
from smtrain.planning.evaluation import metrics_of

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
BUCKET = "reports-bucket"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
KEY = "eval-1/evaluation/evaluation.json"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        boto3.client("sagemaker", region_name=REGION).create_processing_job(
            ProcessingJobName="eval-1", RoleArn=ROLE, AppSpecification={"ImageUri": IMAGE},
            ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                   "VolumeSizeInGB": 30}},
            ProcessingOutputConfig={"Outputs": [{"OutputName": "evaluation", "S3Output": {
                "S3Uri": f"s3://{BUCKET}/eval-1/evaluation", "LocalPath": "/opt/ml/processing/evaluation",
                "S3UploadMode": "EndOfJob"}}]})
        yield s3


def session() -> Session:
    return Session(backend="sagemaker", region=REGION, role=ROLE, bucket=BUCKET, quiet=True)


@pytest.mark.parametrize("body, says", [
    (b"{not json", "is not JSON"),
    (b"[1, 2]", "is not a JSON object"),
    (json.dumps({"metrics": {"accuracy": {"value": "0.9"}}}).encode(), "holds no metric"),
    (b'{"metrics": {"accuracy": {"value": NaN}}}', "holds no metric"),
    (b" " * (REPORT_MAX_BYTES + 1), "is over"),
])
def test_a_broken_report_is_a_clear_error(s3: Any, body: bytes, says: str) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    with pytest.raises(ArgumentError, match=says) as caught:
        session().evaluation_metrics("eval-1")
    assert caught.value.hint
    assert "unexpected" not in str(caught.value).lower()


def test_an_unsafe_job_name_is_refused_before_any_call(s3: Any) -> None:
    with pytest.raises(ArgumentError):
        session().evaluation_metrics("../eval-1")


def test_non_finite_and_boolean_values_are_not_metrics() -> None:
    report = {"metrics": {"a": {"value": float("inf")}, "b": {"value": True}, "c": {"value": 1}}}
    assert metrics_of(report) == {"c": 1.0}

"""SageMaker runs: one Search call per page, filtered on smtrain's tag; metric history from CloudWatch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
from botocore.stub import Stubber

from smtrain.runs import sagemaker
from smtrain.runs.record import Run

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
SEARCH = {
    "Resource": "TrainingJob",
    "SearchExpression": {"Filters": [{"Name": "Tags.smtrain:managed", "Operator": "Equals", "Value": "true"}]},
    "SortBy": "CreationTime",
    "SortOrder": "Descending",
    "MaxResults": 100,
}


def job(name: str, accuracy: float) -> dict[str, Any]:
    return {"TrainingJob": {
        "TrainingJobName": name, "TrainingJobArn": f"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{name}",
        "TrainingJobStatus": "Completed", "CreationTime": WHEN, "TrainingStartTime": WHEN,
        "TrainingEndTime": WHEN + dt.timedelta(seconds=90), "BillableTimeInSeconds": 80,
        "HyperParameters": {"C": "0.5", "sagemaker_program": '"penguins.py"'},
        "AlgorithmSpecification": {"TrainingImage": "sklearn-image", "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "FinalMetricDataList": [{"MetricName": "accuracy", "Value": accuracy, "Timestamp": WHEN}],
        "Tags": [{"Key": "smtrain:managed", "Value": "true"}, {"Key": "team", "Value": "ml"},
                 {"Key": "smtrain:git-commit", "Value": "a" * 40}],
    }}


def client(service: str) -> Any:
    return boto3.client(service, region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")


def test_search_lists_smtrain_jobs_one_call_per_page() -> None:
    sm = client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response("search", {"Results": [job("b", 0.9)], "NextToken": "page-2"}, SEARCH)
        stub.add_response("search", {"Results": [job("a", 0.8)]}, {**SEARCH, "NextToken": "page-2"})
        runs = list(sagemaker.iter_runs(sm))
        stub.assert_no_pending_responses()
    assert [r.name for r in runs] == ["b", "a"]
    first = runs[0]
    assert (first.backend, first.status, first.metrics, first.hyperparameters) == (
        "sagemaker", "Completed", {"accuracy": 0.9}, {"C": 0.5})
    assert first.user_tags == {"team": "ml"} and first.git_commit == "a" * 40
    assert first.duration_seconds() == 90 and first.billable_seconds == 80
    assert first.region == "eu-west-1" and first.instance_type == "ml.m5.large"


def test_a_limit_stops_reading_pages() -> None:
    sm = client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response("search", {"Results": [job("b", 0.9), job("a", 0.8)], "NextToken": "more"},
                          SEARCH)  # no second call for the "more" page
        runs = list(sagemaker.iter_runs(sm, limit=1))
    assert [r.name for r in runs] == ["b"]


def test_metric_history_comes_from_cloudwatch() -> None:
    cloudwatch = client("cloudwatch")
    run = Run(name="b", backend="sagemaker", status="Completed", created=WHEN.isoformat(), started=WHEN.isoformat(),
              ended=(WHEN + dt.timedelta(minutes=2)).isoformat(), metrics={"accuracy": 0.9})
    expected = {
        "MetricDataQueries": [{"Id": "m0", "Label": "accuracy", "MetricStat": {
            "Metric": {"Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "accuracy",
                       "Dimensions": [{"Name": "Host", "Value": "b/algo-1"}]},
            "Period": 60, "Stat": "Average"}}],
        "StartTime": WHEN - dt.timedelta(minutes=1),
        "EndTime": WHEN + dt.timedelta(minutes=7),
        "ScanBy": "TimestampAscending",
    }
    answer = {"MetricDataResults": [{"Id": "m0", "Label": "accuracy", "StatusCode": "Complete",
                                     "Timestamps": [WHEN, WHEN + dt.timedelta(minutes=1)], "Values": [0.5, 0.9]}]}
    with Stubber(cloudwatch) as stub:
        stub.add_response("get_metric_data", answer, expected)
        points = sagemaker.metric_history(cloudwatch, run, ["accuracy"])
    assert [(p["MetricName"], p["Value"]) for p in points] == [("accuracy", 0.5), ("accuracy", 0.9)]

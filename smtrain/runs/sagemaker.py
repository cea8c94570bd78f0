"""Runs on SageMaker: jobs from the ``Search`` API, metric history from CloudWatch.

``Search`` (resource ``TrainingJob``) returns whole job descriptions with
their tags, up to 100 per call, filtered on smtrain's tag: one call per page
instead of one ``DescribeTrainingJob`` per job. ``Search`` has no processing or
transform jobs (its ``ResourceType``, botocore's model), so those are listed
(``ListProcessingJobs``, newest first), then described and their tags read, for
the newest :data:`OTHER_KINDS_CHECKED` of each kind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from smtrain.runs.record import Run, from_description

MANAGED_TAG_FILTER = {"Name": "Tags.smtrain:managed", "Operator": "Equals", "Value": "true"}
PAGE_SIZE = 100
METRICS_NAMESPACE = "/aws/sagemaker/TrainingJobs"
METRIC_PERIOD_SECONDS = 60


def search_request(limit: int | None = None) -> dict[str, Any]:
    """The Search parameters for smtrain's jobs, newest first."""
    return {
        "Resource": "TrainingJob",
        "SearchExpression": {"Filters": [dict(MANAGED_TAG_FILTER)]},
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "PaginationConfig": {"PageSize": PAGE_SIZE, **({"MaxItems": limit} if limit else {})},
    }


def iter_runs(client: Any, limit: int | None = None) -> Iterator[Run]:
    """smtrain's SageMaker jobs, newest first, one Search call per page of 100."""
    pages = client.get_paginator("search").paginate(**search_request(limit))
    for page in pages:
        for result in page.get("Results", []):
            job = result.get("TrainingJob")
            if job:
                yield from_description(job, "sagemaker", tags=job.get("Tags", []))


OTHER_KINDS_CHECKED = 50  # per kind: two calls each (Describe, ListTags), so `ls` stays a few seconds


def iter_other_runs(client: Any, limit: int | None = None) -> Iterator[Run]:
    """smtrain's processing and transform jobs on SageMaker, newest first within each kind."""
    from smtrain.planning.kinds import PROCESSING, TRANSFORM

    for kind in (PROCESSING, TRANSFORM):
        pages = client.get_paginator(_method(kind.list)).paginate(
            SortBy="CreationTime", SortOrder="Descending",
            PaginationConfig={"MaxItems": min(limit or OTHER_KINDS_CHECKED, OTHER_KINDS_CHECKED), "PageSize": 50})
        for page in pages:
            for summary in page.get(kind.summaries_key, []):
                tags = client.list_tags(ResourceArn=summary[kind.arn_key]).get("Tags", [])
                if any(t.get("Key") == MANAGED_TAG_FILTER["Name"].removeprefix("Tags.") and t.get("Value") == "true"
                       for t in tags):
                    body = getattr(client, _method(kind.describe))(**{kind.name_key: summary[kind.name_key]})
                    yield from_description(body, "sagemaker", tags=tags, kind=kind)


def _method(operation: str) -> str:
    from smtrain.planning.steps import method_name

    return method_name(operation)


def get_run(client: Any, name: str) -> Run:
    job = client.describe_training_job(TrainingJobName=name)
    arn = job.get("TrainingJobArn", "")
    tags = client.list_tags(ResourceArn=arn).get("Tags", []) if arn else []
    return from_description(job, "sagemaker", tags=tags)


def metric_history(cloudwatch: Any, run: Run, metric_names: list[str]) -> list[dict[str, Any]]:
    """Every value of each metric, from CloudWatch (one GetMetricData call per page); [] if none is kept."""
    if not metric_names or not run.created:
        return []
    start = dt.datetime.fromisoformat(run.started or run.created) - dt.timedelta(minutes=1)
    now = dt.datetime.now(dt.timezone.utc)
    end = dt.datetime.fromisoformat(run.ended) + dt.timedelta(minutes=5) if run.ended else now
    queries = [{
        "Id": f"m{index}",
        "Label": name,
        "MetricStat": {
            "Metric": {"Namespace": METRICS_NAMESPACE, "MetricName": name,
                       "Dimensions": [{"Name": "Host", "Value": f"{run.name}/algo-1"}]},
            "Period": METRIC_PERIOD_SECONDS,
            "Stat": "Average",
        },
    } for index, name in enumerate(metric_names[:500])]
    points: list[dict[str, Any]] = []
    paginator = cloudwatch.get_paginator("get_metric_data")
    for page in paginator.paginate(MetricDataQueries=queries, StartTime=start, EndTime=end,
                                   ScanBy="TimestampAscending"):
        for result in page.get("MetricDataResults", []):
            for when, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                points.append({"MetricName": result.get("Label", ""), "Value": float(value),
                               "Timestamp": when.isoformat() if hasattr(when, "isoformat") else str(when)})
    points.sort(key=lambda p: p["Timestamp"])
    return points


MAX_ENDPOINTS_CHECKED = 100


def endpoints_serving(client: Any, run: Run) -> list[dict[str, str]]:
    """The endpoints whose model is this run's artifact (the newest 100 endpoints are checked)."""
    if not run.model_data:
        return []
    serving = []
    listed = client.list_endpoints(SortBy="CreationTime", SortOrder="Descending", MaxResults=MAX_ENDPOINTS_CHECKED)
    for summary in listed.get("Endpoints", []):
        endpoint = client.describe_endpoint(EndpointName=summary["EndpointName"])
        config = client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        for variant in config.get("ProductionVariants", []):
            model = client.describe_model(ModelName=variant["ModelName"])
            if (model.get("PrimaryContainer") or {}).get("ModelDataUrl") == run.model_data:
                tags = client.list_tags(ResourceArn=endpoint["EndpointArn"]).get("Tags", [])
                expires = next((t["Value"] for t in tags if t["Key"] == "smtrain:expires-at"), "")
                serving.append({"name": summary["EndpointName"], "status": summary.get("EndpointStatus", ""),
                                "expires": expires})
                break
    return serving

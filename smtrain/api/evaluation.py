"""Evaluation reports as the API reads them: the evaluation.json an evaluation job wrote, from either backend.

What the report says and where a job writes it is planned in :mod:`smtrain.planning.evaluation`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from smtrain.backends.base import Backend
from smtrain.core.errors import SmtrainError, UsageError
from smtrain.execution.executor import call
from smtrain.planning.evaluation import metrics_of, report_uri
from smtrain.planning.spec import check_name

REPORT_MAX_BYTES = 1 << 20  # an evaluation.json is a few metrics, never a data set
DESCRIBE = "DescribeProcessingJob"
EXAMPLE = '{"multiclass_classification_metrics": {"accuracy": {"value": 0.9}}}'


def job_report(backend: Backend, evaluation_job: str, *, where: str) -> tuple[str, dict[str, float]]:
    """Where ``evaluation_job`` wrote evaluation.json, and its metrics; a clear error when it did not."""
    with located(where):
        check_name(evaluation_job, "evaluation job")
    description = call(backend, DESCRIBE, {"ProcessingJobName": evaluation_job}, where=where)
    uri = report_uri(description, where=where)
    metrics = read_report(backend, uri, where=where)
    if metrics is None:
        raise UsageError(f"evaluation job {evaluation_job} wrote no evaluation.json ({uri})", where=where,
                         hint="its script must write /opt/ml/processing/evaluation/evaluation.json")
    return uri, metrics


def read_report(backend: Backend, uri: str, *, where: str) -> dict[str, float] | None:
    """The metrics of the report at ``uri``; None when there is none."""
    with located(where):
        body = backend.read_object(uri, max_bytes=REPORT_MAX_BYTES)
    if body is None:
        return None
    try:
        report = json.loads(body)
    except ValueError as exc:
        raise UsageError(f"{uri} is not JSON: {exc}", where=where, hint=f"write {EXAMPLE}") from exc
    return metrics_of(report, source=uri, where=where)


@contextmanager
def located(where: str) -> Iterator[None]:
    """A usage error inside the block, said to be at ``where`` (the flag or argument it came from)."""
    try:
        yield
    except UsageError as error:
        if type(error) is not UsageError:
            raise
        raise UsageError(error.what, where=where, hint=error.hint) from error


def package_metrics(backend: Backend, package: Mapping[str, Any]) -> dict[str, float]:
    """The evaluation metrics a model package carries (ModelMetrics.ModelQuality.Statistics); {} when none
    can be read -- a listing shows what it can rather than failing on one package."""
    statistics = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
    uri = statistics.get("S3Uri", "")
    if not uri or statistics.get("ContentType") != "application/json":
        return {}
    try:
        return read_report(backend, uri, where=uri) or {}
    except SmtrainError:
        return {}

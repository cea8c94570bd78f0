"""Evaluation reports: where a processing job wrote ``evaluation.json``, what it says, and how the
registry carries it.

An evaluation job is a processing job with an output named ``evaluation`` whose script writes
``evaluation.json`` there -- the layout of SageMaker Pipelines' abalone example
(sagemaker-python-sdk tests/data/workflow/abalone/evaluation.py and its pipeline's
``PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")``).
Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from smtrain.core.errors import UsageError

OUTPUT_NAME = "evaluation"
REPORT_FILE = "evaluation.json"
CONTENT_TYPE = "application/json"
MODEL_INPUT = "model"
PROCESSING_PATH = "/opt/ml/processing"
MODEL_PATH = "/opt/ml/processing/model"  # where the abalone/penguins pipeline examples put model.tar.gz


def report_uri(description: Mapping[str, Any], *, where: str = "evaluation") -> str:
    """The S3 URI of ``evaluation.json`` written by a Completed processing job."""
    name = description.get("ProcessingJobName", "the evaluation job")
    status = description.get("ProcessingJobStatus", "unknown")
    if status != "Completed":
        raise UsageError(f"processing job {name} is {status}, not Completed", where=where,
                         hint="give an evaluation job that completed (`smtrain ls`)")
    outputs = description.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for output in outputs:
        if output.get("OutputName") == OUTPUT_NAME and output.get("S3Output", {}).get("S3Uri"):
            return str(output["S3Output"]["S3Uri"]).rstrip("/") + "/" + REPORT_FILE
    raise UsageError(f"processing job {name} has no output named {OUTPUT_NAME!r}", where=where,
                     hint=f"run the evaluation with `smtrain evaluate`, whose script writes {REPORT_FILE} "
                          f"to /opt/ml/processing/{OUTPUT_NAME}")


def model_metrics(uri: str) -> dict[str, Any]:
    """ModelMetrics for CreateModelPackage: the report as model-quality statistics.

    As the SageMaker Python SDK v2 sends ``ModelMetrics(model_statistics=MetricsSource(
    content_type="application/json", s3_uri=...))`` (sagemaker/model_metrics.py, ``_to_request_dict``),
    empty Bias and Explainability included (tests/fixtures/parity/sdk_v2/register_requests.json).
    """
    return {"Bias": {}, "Explainability": {},
            "ModelQuality": {"Statistics": {"ContentType": CONTENT_TYPE, "S3Uri": uri}}}


def metrics_of(report: Any, *, source: str = REPORT_FILE, where: str = "") -> dict[str, float]:
    """``{name: value}`` from a model-quality report.

    Model Monitor's report puts metrics under one section per problem type (``regression_metrics``,
    ``binary_classification_metrics``, ``multiclass_classification_metrics``;
    https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-metrics.html), each
    ``{"<metric>": {"value": ..., "standard_deviation": ...}}``; a plain ``metrics`` section is read too.
    Entries without a finite numeric ``value`` (a confusion matrix, a NaN) are skipped.
    """
    if not isinstance(report, Mapping):
        raise UsageError(f"{source} is not a JSON object", where=where or source,
                         hint='write {"multiclass_classification_metrics": {"accuracy": {"value": 0.9}}}')
    metrics: dict[str, float] = {}
    for section, entries in report.items():
        if not (section == "metrics" or str(section).endswith("_metrics")) or not isinstance(entries, Mapping):
            continue
        for name, entry in entries.items():
            value = entry.get("value") if isinstance(entry, Mapping) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                metrics[str(name)] = float(value)
    if not metrics:
        raise UsageError(f"{source} holds no metric", where=where or source,
                         hint='each metric is {"<section>_metrics": {"<name>": {"value": <number>}}}')
    return metrics


def evaluation_io(training: Mapping[str, Any], test_uri: str, output_uri: str,
                  *, where: str = "evaluate") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """ProcessingInputs and ProcessingOutputConfig of an evaluation job for the training job ``training``
    (its DescribeTrainingJob): the model.tar.gz at /opt/ml/processing/model, the test set at
    /opt/ml/processing/test, the report from /opt/ml/processing/evaluation -- the abalone pipeline's layout."""
    from smtrain.planning.processing import processing_input, processing_output

    name = training.get("TrainingJobName", "the training job")
    model = training.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
    if training.get("TrainingJobStatus") != "Completed" or not model:
        raise UsageError(f"training job {name} is {training.get('TrainingJobStatus', 'unknown')}, "
                         "so it has no model to evaluate", where=where,
                         hint="evaluate a job whose status is Completed (`smtrain ls`)")
    inputs = [processing_input(MODEL_INPUT, model, MODEL_PATH),
              processing_input("test", test_uri, "/opt/ml/processing/test")]
    outputs = {"Outputs": [processing_output(OUTPUT_NAME, output_uri, f"{PROCESSING_PATH}/{OUTPUT_NAME}")]}
    return inputs, outputs

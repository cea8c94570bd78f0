"""`pipeline export --evaluate-code FILE`: an ``Evaluate`` step after the train step, and the registered
package carrying its report.

``Evaluate`` is ``createProcessingJob.sync`` with the request `smtrain evaluate` sends (SDK v2's
``SKLearnProcessor.run``): the trained job's model.tar.gz as the input ``model`` at
/opt/ml/processing/model, the held-out data (``--evaluate-input test=URI``) at /opt/ml/processing/<name>,
and the output ``evaluation`` at ``<root>/<pipeline>-<execution>/evaluation``, whose ``evaluation.json``
the package names as ``ModelMetrics.ModelQuality.Statistics`` -- as SageMaker Pipelines' ``RegisterModel``
step does with a ``ModelMetrics(model_statistics=MetricsSource(...))``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from smtrain.core.config import Config
from smtrain.planning.evaluation import (
    MODEL_INPUT,
    MODEL_PATH,
    OUTPUT_NAME,
    PROCESSING_PATH,
    REPORT_FILE,
    model_metrics,
)
from smtrain.planning.kinds import PROCESSING
from smtrain.planning.processing import DataInput, ProcessingSpec, check_processing, plan_process
from smtrain.planning.steps import Plan

from . import requests
from .spec import PipelineSpec

EVALUATES_TAG = "smtrain:evaluates"
PLACEHOLDER_MODEL = "s3://run-time/model.tar.gz"  # bound to $.training.ModelArtifacts.S3ModelArtifacts


def evaluation_spec(session: Any, name: str, code: str, inputs: Sequence[str], arguments: Sequence[str]
                    ) -> ProcessingSpec:
    """The evaluation job of pipeline ``name``, checked as `smtrain evaluate` checks it."""
    from smtrain.api.processing import _inputs
    from smtrain.core.errors import UsageError

    given = _inputs(list(inputs), default_root=PROCESSING_PATH)
    if "test" not in {item.name for item in given}:
        raise UsageError("the evaluate step needs the held-out data as the input named 'test'",
                         where="--evaluate-input", hint="give --evaluate-input test=s3://bucket/prefix/test/")
    spec = session.processing_spec(code, inputs=[f"{i.name}={i.source}:{i.destination}" for i in given],
                                   outputs=[f"{OUTPUT_NAME}={PROCESSING_PATH}/{OUTPUT_NAME}"],
                                   arguments=tuple(arguments), job_name=name)
    spec = replace(spec, inputs=(DataInput(MODEL_INPUT, PLACEHOLDER_MODEL, MODEL_PATH), *spec.inputs),
                   submission_id=hashlib.sha256(Path(code).read_bytes()).hexdigest()[:12])
    check_processing(spec)
    return spec


def evaluate_plan(spec: PipelineSpec, config: Config, *, root: str, image_uri: str, role: str) -> Plan:
    assert spec.evaluation is not None
    return plan_process(spec.evaluation, config, root=root, image_uri=image_uri, role=role)


def report_prefix(spec: PipelineSpec, root: str) -> str:
    return requests.literal(f"{root.rstrip('/')}/{spec.name}-")[1:-1]


def report_object(spec: PipelineSpec, root: str, store: Path) -> dict[str, Any]:
    """The ``s3:getObject`` parameters of this execution's evaluation.json (where ``evaluate_parameters``
    writes it), for the gate to read."""
    from .objects import location

    bucket, key = location(f"{root.rstrip('/')}/{spec.name}-", store)
    return {"Bucket": bucket, "Key.$": f"States.Format('{requests.literal(key)[1:-1]}{{}}/{OUTPUT_NAME}/"
                                       f"{REPORT_FILE}', $$.Execution.Name)"}


def evaluate_parameters(spec: PipelineSpec, plan: Plan, root: str) -> dict[str, Any]:
    """The CreateProcessingJob Task parameters: named per execution and attempt, the trained model bound."""
    request = requests.call_params(plan, "processing")
    requests.bind(request, "ProcessingJobName", requests.resource_name(spec, "eval", attempt=True))
    index = next(i for i, item in enumerate(request["ProcessingInputs"]) if item["InputName"] == MODEL_INPUT)
    requests.bind(request, f"ProcessingInputs.{index}.S3Input.S3Uri", "$.training.ModelArtifacts.S3ModelArtifacts")
    requests.bind(request, "ProcessingOutputConfig.Outputs.0.S3Output.S3Uri",
                  f"States.Format('{report_prefix(spec, root)}{{}}/{OUTPUT_NAME}', $$.Execution.Name)")
    request["Tags"].append({"Key": EVALUATES_TAG, "Value.$": "$.training.TrainingJobName"})  # what `show` reads
    return request


def evaluate_state(spec: PipelineSpec, parameters: dict[str, Any], task: Any) -> dict[str, Any]:
    return {"Evaluate": task(PROCESSING.sync_resource, parameters, "Find group", result_path="$.evaluation",
                             result_selector={"ProcessingJobName.$": "$.ProcessingJobName"})}


def with_model_metrics(spec: PipelineSpec, package: dict[str, Any], root: str) -> None:
    """The package names the execution's evaluation.json as its model-quality statistics."""
    package["ModelMetrics"] = model_metrics(requests.RUN_TIME)
    requests.bind(package, "ModelMetrics.ModelQuality.Statistics.S3Uri",
                  f"States.Format('{report_prefix(spec, root)}{{}}/{OUTPUT_NAME}/{REPORT_FILE}', $$.Execution.Name)")

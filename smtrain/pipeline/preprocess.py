"""`pipeline export --preprocess-code FILE`: a ``Preprocess`` step before the train step whose outputs are the
training job's channels.

``Preprocess`` is ``createProcessingJob.sync`` with the request `smtrain process` sends (SDK v2's
``SKLearnProcessor.run``). Each output (``--preprocess-output NAME=/opt/ml/processing/DIR``) goes to
``<root>/<pipeline>-<execution>/preprocess/NAME`` and is the train step's channel ``NAME`` -- as SageMaker
Pipelines passes ``step_process.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri`` to a
``TrainingInput``. An output named ``test`` is also the Evaluate step's held-out data unless
``--evaluate-input test=...`` says otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from smtrain.core.config import Config
from smtrain.core.errors import UsageError
from smtrain.planning.kinds import PROCESSING
from smtrain.planning.processing import ProcessingSpec, plan_process
from smtrain.planning.steps import Plan

from . import requests
from .spec import PipelineSpec

PLACEHOLDER = "s3://run-time/preprocess/"  # a channel bound at run time to the Preprocess output


def preprocess_spec(session: Any, name: str, code: str, inputs: Sequence[str], outputs: Sequence[str],
                    arguments: Sequence[str]) -> ProcessingSpec:
    """The preprocessing job of pipeline ``name``, checked as `smtrain process` checks it."""
    if not outputs:
        raise UsageError("the preprocess step has no output to train on", where="--preprocess-output",
                         hint="give --preprocess-output train=/opt/ml/processing/train (each output is a channel)")
    spec = session.processing_spec(code, inputs=list(inputs), outputs=list(outputs), arguments=tuple(arguments),
                                   job_name=name)
    return replace(spec, submission_id=hashlib.sha256(Path(code).read_bytes()).hexdigest()[:12])


def placeholder_channels(spec: ProcessingSpec) -> dict[str, str]:
    """The train step's channels, one per output, bound at run time (see :func:`bind_channels`)."""
    return {output.name: f"{PLACEHOLDER}{output.name}/" for output in spec.outputs}


def output_expression(spec: PipelineSpec, root: str, name: str) -> str:
    prefix = requests.literal(f"{root.rstrip('/')}/{spec.name}-")[1:-1]
    return f"States.Format('{prefix}{{}}/preprocess/{requests.literal(name)[1:-1]}', $$.Execution.Name)"


def preprocess_plan(spec: PipelineSpec, config: Config, *, root: str, image_uri: str, role: str) -> Plan:
    assert spec.preprocess is not None
    return plan_process(spec.preprocess, config, root=root, image_uri=image_uri, role=role)


def preprocess_parameters(spec: PipelineSpec, plan: Plan, root: str) -> dict[str, Any]:
    request = requests.call_params(plan, "processing")
    requests.bind(request, "ProcessingJobName", requests.resource_name(spec, "prep", attempt=True))
    for index, output in enumerate(request["ProcessingOutputConfig"]["Outputs"]):
        requests.bind(request, f"ProcessingOutputConfig.Outputs.{index}.S3Output.S3Uri",
                      output_expression(spec, root, output["OutputName"]))
    return request


def preprocess_state(parameters: dict[str, Any], task: Any, next_state: str) -> dict[str, Any]:
    return {"Preprocess": task(PROCESSING.sync_resource, parameters, next_state, result_path="$.preprocess",
                               result_selector={"ProcessingJobName.$": "$.ProcessingJobName"})}


def bind_channels(spec: PipelineSpec, training: dict[str, Any], defaults: dict[str, Any], root: str) -> None:
    """The train step reads each Preprocess output as its channel (no longer an execution-input setting)."""
    assert spec.preprocess is not None
    outputs = {output.name for output in spec.preprocess.outputs}
    for channel in training.get("InputDataConfig", []):
        name = channel["ChannelName"]
        source = channel["DataSource"]["S3DataSource"]
        if name in outputs:
            source.pop("S3Uri.$", None)
            source["S3Uri.$"] = output_expression(spec, root, name)
            defaults["channels"].pop(name, None)


def bind_test_input(spec: PipelineSpec, evaluate: dict[str, Any], root: str) -> None:
    """The Evaluate step's ``test`` input is the Preprocess output ``test`` when it was given as ``preprocess``."""
    for index, item in enumerate(evaluate["ProcessingInputs"]):
        if item["InputName"] == "test" and str(item["S3Input"].get("S3Uri", "")).startswith(PLACEHOLDER):
            requests.bind(evaluate, f"ProcessingInputs.{index}.S3Input.S3Uri", output_expression(spec, root, "test"))

"""What a pipeline is made of: the fit, register and deploy settings plus a gate."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from smtrain.core.errors import UsageError
from smtrain.planning.spec import DeploySpec, TrainingSpec

if TYPE_CHECKING:
    from smtrain.planning.processing import ProcessingSpec
    from smtrain.planning.transform import TransformSpec
    from smtrain.planning.tuning import TuningSpec

# Resource names are <name>-<execution name>-<role>[-<attempt>]; SageMaker allows 63 characters and
# Step Functions generates 36-character execution names, which leaves 16 for the pipeline's name.
MAX_NAME = 16
EVALUATION_PREFIX = "evaluation:"  # --gate-metric evaluation:accuracy: the Evaluate step's report, not training's


@dataclass(frozen=True)
class Gate:
    """Deploy only when ``metric`` reaches ``threshold`` and/or beats the champion's."""

    metric: str = ""
    threshold: float | None = None
    champion: bool = False
    minimize: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.metric)

    @property
    def evaluation_metric(self) -> str:
        """``accuracy`` for ``evaluation:accuracy``: a metric of the Evaluate step's report ("" for a training one)."""
        return self.metric.removeprefix(EVALUATION_PREFIX) if self.metric.startswith(EVALUATION_PREFIX) else ""


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    training: TrainingSpec
    deploy: DeploySpec
    group: str
    approve: bool = False
    gate: Gate = field(default_factory=Gate)
    timeout_seconds: int = 2 * 86400
    tuning: TuningSpec | None = None  #: with `export --tune`, the train step is a tuning step
    transform: TransformSpec | None = None  #: with `--transform-input`, a batch step after the model is created
    endpoint: bool = True  #: False (`--no-endpoint`): the batch step instead of an endpoint
    evaluation: ProcessingSpec | None = None  #: with `export --evaluate-code`, an Evaluate step after it
    preprocess: ProcessingSpec | None = None  #: with `export --preprocess-code`, a Preprocess step before it


# The execution's name is in every resource's name: <pipeline>-<execution>-train-<retry> fits SageMaker's 63.
EXECUTION_PATTERN = re.compile(r"[A-Za-z0-9](-?[A-Za-z0-9])*")
RESOURCE_SUFFIX = len("--train-99")


def check_pipeline_name(name: str, *, where: str = "--name") -> str:
    """A pipeline name names a folder under the home too: nothing but its pattern is accepted."""
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9](-?[a-z0-9])*", name) or len(name) > MAX_NAME:
        raise UsageError(f"pipeline name {name!r} is not valid", where=where,
                         hint=f"use up to {MAX_NAME} lower-case letters, digits and single hyphens "
                              "(it prefixes every resource the pipeline creates)")
    return name


def check_execution_name(name: str, pipeline: str, *, where: str = "--execution-name") -> str:
    """An execution name names its record file and every resource the execution creates."""
    longest = 63 - RESOURCE_SUFFIX - len(pipeline)
    if not EXECUTION_PATTERN.fullmatch(name) or len(name) > longest:
        raise UsageError(f"execution name {name!r} is not valid", where=where,
                         hint=f"use up to {longest} letters, digits and single hyphens (with the pipeline's name "
                              "it names every resource the execution creates)")
    return name


def check_evaluation_gate(gate: Gate) -> Gate:
    name = gate.evaluation_metric
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UsageError(f"gate metric {gate.metric!r} names no metric of the evaluation report", where="--gate-metric",
                         hint="give evaluation:NAME, NAME a metric of evaluation.json (e.g. evaluation:accuracy)")
    if gate.champion:
        raise UsageError("--gate-champion compares training metrics; an evaluation gate compares with its threshold",
                         where="--gate-champion", hint="drop --gate-champion, or gate on a training metric")
    if gate.threshold is None:
        raise UsageError("the gate has nothing to compare with", where="--gate-metric",
                         hint="add --gate-threshold NUMBER")
    return gate


def check_gate(gate: Gate, metric_names: list[str]) -> Gate:
    if not gate.metric:
        if gate.threshold is not None or gate.champion:
            raise UsageError("a gate needs a metric", where="--gate-metric",
                             hint="name one of the --metric-definition metrics")
        return gate
    if gate.threshold is not None and (isinstance(gate.threshold, bool) or not isinstance(gate.threshold, int | float)
                                       or not math.isfinite(gate.threshold)):
        raise UsageError(f"the gate threshold must be a finite number, not {gate.threshold!r}",
                         where="--gate-threshold",
                         hint="NaN or Infinity is not JSON, and a gate against it would pass or fail everything")
    if gate.metric.startswith(EVALUATION_PREFIX):
        return check_evaluation_gate(gate)
    if gate.metric not in metric_names:
        raise UsageError(f"gate metric {gate.metric!r} is not captured by the job", where="--gate-metric",
                         hint=f"add --metric-definition {gate.metric}=REGEX "
                              f"(defined: {', '.join(metric_names) or 'none'})")
    if gate.threshold is None and not gate.champion:
        raise UsageError("the gate has nothing to compare with", where="--gate-metric",
                         hint="add --gate-threshold NUMBER and/or --gate-champion")
    return gate

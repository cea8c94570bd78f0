"""Tuning plans: what `smtrain tune` sends, and every check made before anything runs.

The request is SDK v2's ``HyperparameterTuner(SKLearn(...)).fit(...)``, field for field
(captured against moto in tests/fixtures/parity/sdk_v2/): the training job definition is
the ``CreateTrainingJob`` request ``fit`` would send, with its hyperparameters as
``StaticHyperParameters``, its resources as ``HyperParameterTuningResourceConfig``, and the
SDK's ``sagemaker_estimator_*`` keys; every range list is sent, empty or not; categorical
values are JSON-encoded as the SDK encodes them for framework estimators.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smtrain.core.config import Config
from smtrain.core.errors import UsageError
from smtrain.planning.kinds import TUNING
from smtrain.planning.plan import SMTRAIN_TAG, _channel, channel_uri, join_uri, training_request
from smtrain.planning.spec import TrainingSpec
from smtrain.planning.steps import ApiCall, Plan, Step, Upload

STRATEGIES = ("Bayesian", "Random", "Grid", "Hyperband")
EARLY_STOPPING = ("Off", "Auto")
# "Resource Limits for Automatic Model Tuning" (SageMaker developer guide): hyperparameters searched,
# values of one categorical, metrics per tuning job, parallel training jobs (default 10, at most 100 by a
# quota increase), training jobs per tuning job (750; Random search up to 10000 by a quota increase).
MAX_SEARCHED = 30
MAX_CATEGORICAL_VALUES = 30
MAX_METRICS = 20
MAX_PARALLEL = 100
DEFAULT_PARALLEL_QUOTA = 10
MAX_JOBS = 750
MAX_RANDOM_JOBS = 10000
DEFAULT_MAX_JOBS = 10
MAX_PARENTS = 5  # botocore's sagemaker service model: ParentHyperParameterTuningJobs has max 5
# What SDK v2's estimators add to a tuning job's static hyperparameters (sagemaker/tuner.py,
# ``_prepare_static_hyperparameters``): how ``HyperparameterTuner.attach`` rebuilds the estimator.
SDK_ESTIMATOR_KEYS = {"sagemaker_estimator_class_name": "SKLearn",
                      "sagemaker_estimator_module": "sagemaker.sklearn.estimator"}
SCALINGS = {"": "Auto", "auto": "Auto", "linear": "Linear", "log": "Logarithmic",
            "reverse-log": "ReverseLogarithmic"}
RANGE_LISTS = {"continuous": "ContinuousParameterRanges", "integer": "IntegerParameterRanges",
               "categorical": "CategoricalParameterRanges"}
RANGE_SYNTAX = ("NAME=continuous:LOW:HIGH[:log|:reverse-log|:linear], NAME=integer:LOW:HIGH[:log|:linear] "
                "or NAME=categorical:A,B,C")


@dataclass(frozen=True)
class ParameterRange:
    """One hyperparameter to search: ``continuous``/``integer`` between ``low`` and ``high``, or ``categorical``."""

    name: str
    type: str
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Auto"  # the API's ScalingType
    values: tuple[str, ...] = ()

    def as_request(self) -> dict[str, Any]:
        if self.type == "categorical":  # as the SDK encodes them for framework estimators (json.dumps of str)
            return {"Name": self.name, "Values": [json.dumps(value) for value in self.values]}
        low, high = (int(self.low), int(self.high)) if self.type == "integer" else (self.low, self.high)
        return {"Name": self.name, "MinValue": str(low), "MaxValue": str(high), "ScalingType": self.scaling}

    def grid_values(self) -> list[str]:
        """Every value a Grid search tries (integer and categorical ranges only)."""
        if self.type == "integer":
            return [str(v) for v in range(int(self.low), int(self.high) + 1)]
        return [json.dumps(value) for value in self.values]


@dataclass(frozen=True)
class TuningSpec:
    training: TrainingSpec  # its job_name is the tuning job's name
    ranges: tuple[ParameterRange, ...]
    objective: str
    objective_type: str = "Maximize"
    max_jobs: int | None = None
    max_parallel: int = 1
    strategy: str = "Bayesian"
    early_stopping: str = "Off"
    random_seed: int | None = None
    warm_start: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.training.job_name


def parse_range(text: str, *, where: str = "--range") -> ParameterRange:
    """``C=continuous:0.01:10:log`` -> a :class:`ParameterRange` (checked: LOW < HIGH, log needs LOW > 0)."""
    name, sep, definition = text.partition("=")
    name = name.strip()
    kind, _, rest = definition.partition(":")
    kind = kind.strip().lower()
    if not sep or not name or kind not in RANGE_LISTS or not rest:
        raise UsageError(f"malformed range {text!r}", where=where, hint=f"write {RANGE_SYNTAX}")
    where = f"{where} {name}"
    if kind == "categorical":
        values = tuple(v.strip() for v in rest.split(",") if v.strip())
        return check_range(ParameterRange(name, kind, values=values), where=where)
    parts = rest.split(":")
    if len(parts) not in (2, 3):
        raise UsageError(f"malformed range {text!r}", where=where, hint=f"write {RANGE_SYNTAX}")
    scaling = parts[2].strip().lower() if len(parts) == 3 else ""
    if scaling not in SCALINGS or (kind == "integer" and scaling == "reverse-log"):
        allowed = "log, linear or auto" if kind == "integer" else "log, reverse-log, linear or auto"
        raise UsageError(f"unknown scaling {parts[2]!r} for a {kind} range", where=where,
                         hint=f"end the range with :{allowed.replace(', ', ', :').replace(' or ', ' or :')}")
    low, high = (number(part, kind, where) for part in parts[:2])
    return check_range(ParameterRange(name, kind, low, high, SCALINGS[scaling]), where=where)


def number(text: str, kind: str, where: str) -> float:
    try:
        value = float(int(text)) if kind == "integer" else float(text)
    except ValueError:
        raise UsageError(f"{text!r} is not {'a whole number' if kind == 'integer' else 'a number'}", where=where,
                         hint=f"write {RANGE_SYNTAX}") from None
    if not math.isfinite(value):
        raise UsageError(f"{text!r} is not a finite number", where=where, hint=f"write {RANGE_SYNTAX}")
    return value


def check_range(item: ParameterRange, *, where: str) -> ParameterRange:
    """One range as SageMaker accepts it (AWS docs, "Define Hyperparameter Ranges": scaling types)."""
    if item.type == "categorical":
        if not item.values:
            raise UsageError("a categorical range needs at least one value", where=where,
                             hint="write NAME=categorical:A,B,C")
        if len(set(item.values)) != len(item.values):
            raise UsageError("a categorical range lists a value twice", where=where, hint="give each value once")
        if len(item.values) > MAX_CATEGORICAL_VALUES:
            raise UsageError(f"{len(item.values)} values: SageMaker searches at most {MAX_CATEGORICAL_VALUES} "
                             "values of one categorical hyperparameter", where=where,
                             hint="drop values, or make it an integer or continuous range")
        return item
    if item.low >= item.high:
        raise UsageError(f"LOW ({item.low:g}) must be less than HIGH ({item.high:g})", where=where,
                         hint="give the smaller bound first: NAME=TYPE:LOW:HIGH")
    if item.scaling == "Logarithmic" and item.low <= 0:
        raise UsageError(f"logarithmic scaling needs LOW > 0, got {item.low:g}", where=where,
                         hint="raise LOW above 0, or drop :log for linear scaling")
    if item.scaling == "ReverseLogarithmic" and not (item.low >= 0 and item.high < 1):
        raise UsageError("reverse-logarithmic scaling needs 0 <= LOW and HIGH < 1", where=where,
                         hint="use it only for ranges inside [0, 1); else use :log or :linear")
    return item


def check_tuning(spec: TuningSpec) -> None:
    """Everything SageMaker would refuse about the search, said before anything is uploaded."""
    from smtrain.planning.validation import check_name

    check_name(spec.name, "HyperParameterTuningJobName", what="tuning job name", where="--job-name",
               hint="use 1-32 letters, digits and hyphens (a tuning job's name is at most 32 characters)")
    if spec.strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {spec.strategy!r}", where="--strategy", hint=f"use {', '.join(STRATEGIES)}")
    if spec.early_stopping not in EARLY_STOPPING:
        raise UsageError(f"unknown early stopping {spec.early_stopping!r}", where="--early-stopping",
                         hint="use Off or Auto")
    if spec.strategy == "Hyperband" and spec.early_stopping != "Off":
        raise UsageError("Hyperband stops trials itself; TrainingJobEarlyStoppingType must be Off",
                         where="--early-stopping", hint="drop --early-stopping Auto, or choose another --strategy")
    check_ranges(spec)
    metrics = dict(spec.training.metric_definitions)
    if spec.objective not in metrics:
        known = ", ".join(sorted(metrics)) or "none"
        raise UsageError(f"objective {spec.objective!r} is not among the metric definitions ({known})",
                         where="--objective",
                         hint=f"add --metric-definition {spec.objective}=REGEX, or choose one of those defined")
    if len(metrics) > MAX_METRICS:
        raise UsageError(f"{len(metrics)} metric definitions: a tuning job takes at most {MAX_METRICS}",
                         where="--metric-definition", hint="keep the objective and the metrics you compare")
    check_limits(spec)
    if spec.random_seed is not None and spec.random_seed < 0:
        raise UsageError(f"random seed must be 0 or more, got {spec.random_seed}", where="--random-seed",
                         hint="give a whole number of at least 0")
    if len(spec.warm_start) > MAX_PARENTS:
        raise UsageError(f"{len(spec.warm_start)} parent tuning jobs: a warm start takes at most {MAX_PARENTS}",
                         where="--warm-start", hint="keep the parents whose trials you want to build on")
    for parent in spec.warm_start:
        check_name(parent, "HyperParameterTuningJobName", what="parent tuning job", where="--warm-start")


def check_ranges(spec: TuningSpec) -> None:
    if not spec.ranges:
        raise UsageError("nothing to tune: no --range given", where="--range", hint=f"give {RANGE_SYNTAX}")
    names = [item.name for item in spec.ranges]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"hyperparameter {twice[0]!r} has two ranges", where=f"--range {twice[0]}",
                         hint="give each hyperparameter one range")
    static = sorted(set(names) & set(spec.training.hyperparameters))
    if static:
        raise UsageError(f"hyperparameter {static[0]!r} is both searched (--range) and fixed (--hp)",
                         where=f"--range {static[0]}",
                         hint=f"drop --hp {static[0]}=... to search it, or drop the range to fix it")
    reserved = sorted(name for name in names if name.startswith("sagemaker_"))
    if reserved:
        raise UsageError(f"hyperparameter {reserved[0]!r} is reserved: smtrain sets the sagemaker_* keys itself",
                         where=f"--range {reserved[0]}", hint="rename it")
    if len(names) > MAX_SEARCHED:
        raise UsageError(f"{len(names)} ranges: SageMaker searches at most {MAX_SEARCHED} hyperparameters",
                         where="--range", hint="search fewer hyperparameters; fix the rest with --hp")
    if spec.strategy == "Grid":
        continuous = [item.name for item in spec.ranges if item.type == "continuous"]
        if continuous:
            raise UsageError(f"Grid search cannot search the continuous range {continuous[0]!r}",
                             where=f"--range {continuous[0]}",
                             hint="make it categorical:V1,V2,... or integer:LOW:HIGH, or use --strategy Random")


def grid_size(ranges: tuple[ParameterRange, ...]) -> int:
    return math.prod(len(item.grid_values()) for item in ranges)


def check_limits(spec: TuningSpec) -> None:
    if spec.max_parallel < 1 or spec.max_parallel > MAX_PARALLEL:
        raise UsageError(f"--max-parallel {spec.max_parallel}: SageMaker runs 1 to {MAX_PARALLEL} training jobs "
                         "of one tuning job at once", where="--max-parallel",
                         hint=f"give 1-{MAX_PARALLEL} (the default quota is {DEFAULT_PARALLEL_QUOTA}; "
                              "more needs a Service Quotas increase)")
    most = MAX_RANDOM_JOBS if spec.strategy == "Random" else MAX_JOBS
    if spec.strategy == "Grid":
        size = grid_size(spec.ranges)
        if size > MAX_JOBS:
            raise UsageError(f"the grid has {size} combinations: SageMaker's Grid search runs at most {MAX_JOBS}",
                             where="--range", hint="narrow the ranges or drop values")
    if spec.max_jobs is not None and not 1 <= spec.max_jobs <= most:
        raise UsageError(f"--max-jobs {spec.max_jobs}: a {spec.strategy} tuning job runs 1 to {most} training jobs",
                         where="--max-jobs", hint=f"give 1-{most}")


def default_tuning_name(entry_point: str, now: float | None = None) -> str:
    """``<stem>-YYMMDD-HHMMSS``, at most 32 characters (the SDK's short timestamp, with seconds)."""
    import re
    import time
    from pathlib import Path

    now = time.time() if now is None else now
    stamp = time.strftime("%y%m%d-%H%M%S", time.gmtime(now))
    base = re.sub(r"[^a-zA-Z0-9-]+", "-", Path(entry_point).stem).strip("-")[: 32 - len(stamp) - 1].strip("-")
    return f"{base or 'tune'}-{stamp}"


def plan_tune(spec: TuningSpec, config: Config, *, root: str, image_uri: str, role: str) -> Plan:
    """Upload the source (and local channels for SageMaker), create the tuning job.

    No wait step: the tuning job is followed by :func:`smtrain.execution.tuning.follow_tuning`,
    which shows its trials' progress."""
    training = spec.training
    job = spec.name
    source_uri = join_uri(root, job, "source", training.submission_id, "sourcedir.tar.gz")
    steps: list[Step] = [Upload("upload-source", "source", str(training.source_dir), source_uri,
                                training.entry_point)]
    channels = []
    for name, value in training.channels.items():
        uri, upload = channel_uri(value, root, job, name, local=config.is_local, submission=training.submission_id)
        if upload:
            steps.append(upload)
        channels.append(_channel(name, uri, sharded=name in training.sharded))
    request = tuning_request(spec, training_request(training, config, source_uri, channels, root=root,
                                                    image_uri=image_uri, role=role))
    steps.append(ApiCall("tuning", "sagemaker", TUNING.create, request))
    return tuple(steps)


def tuning_request(spec: TuningSpec, training: Mapping[str, Any]) -> dict[str, Any]:
    """CreateHyperParameterTuningJob from the CreateTrainingJob request a plain ``fit`` would send."""
    definition = {key: value for key, value in training.items()
                  if key not in ("TrainingJobName", "HyperParameters", "ResourceConfig", "Tags")}
    definition["StaticHyperParameters"] = {**training["HyperParameters"],
                                           **{k: json.dumps(v) for k, v in SDK_ESTIMATOR_KEYS.items()}}
    definition["HyperParameterTuningResourceConfig"] = dict(training["ResourceConfig"])
    limits: dict[str, Any] = {"MaxNumberOfTrainingJobs": max_jobs(spec), "MaxParallelTrainingJobs": spec.max_parallel}
    config: dict[str, Any] = {
        "Strategy": spec.strategy,
        "ResourceLimits": limits,
        "TrainingJobEarlyStoppingType": spec.early_stopping,
        "HyperParameterTuningJobObjective": {"Type": spec.objective_type, "MetricName": spec.objective},
        "ParameterRanges": {
            key: [item.as_request() for item in spec.ranges if item.type == kind] for kind, key in RANGE_LISTS.items()
        },
    }
    if spec.random_seed is not None:
        config["RandomSeed"] = spec.random_seed
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": spec.name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": definition,
        "Tags": list(training.get("Tags") or [dict(SMTRAIN_TAG)]),
    }
    if spec.warm_start:
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": p} for p in spec.warm_start],
            "WarmStartType": "IdenticalDataAndAlgorithm",
        }
    return request


def max_jobs(spec: TuningSpec) -> int:
    """The user's --max-jobs; by default the whole grid for Grid (the SDK sends it: the field is
    required by boto3's validation even though the API infers it), else 10."""
    if spec.max_jobs is not None:
        return spec.max_jobs
    return grid_size(spec.ranges) if spec.strategy == "Grid" else DEFAULT_MAX_JOBS

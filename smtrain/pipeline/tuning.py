"""`pipeline export --tune`: the train step as a tuning step, its best training job flowing on.

``Tune`` is ``createHyperParameterTuningJob.sync`` with the request `smtrain plan tune` prints, its
training job definition bound at run time as the ``Train`` step's request is (channels, instance,
hyperparameters from the execution input, as static hyperparameters). ``Best trial`` describes the
tuning job's best training job and leaves, at ``$.training``, exactly what ``Train`` leaves there,
so the gate, registration and deployment read the best trial as they read a trained job.

A tuning job's name is at most 32 characters: ``<pipeline>-<8 hex of a UUID>`` (the pipeline name is
at most 16), new for each attempt, under the ``<pipeline>-*`` names the CloudFormation role allows.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from smtrain.planning.kinds import TUNING
from smtrain.planning.tuning import TuningSpec, check_tuning, tuning_request

from . import requests
from .spec import PipelineSpec

SDK = "arn:aws:states:::aws-sdk:sagemaker:"


def tuning_spec(spec: PipelineSpec, settings: dict[str, Any]) -> TuningSpec:
    """The search of ``settings`` (Session.tune's tuning keyword arguments) over the pipeline's training job,
    checked as `smtrain tune` checks it."""
    from smtrain.api.tuning import parse_ranges

    tuning = TuningSpec(training=replace(spec.training, job_name=spec.name), ranges=parse_ranges(settings["ranges"]),
                        objective=settings["objective"],
                        objective_type="Minimize" if settings.get("minimize") else "Maximize",
                        max_jobs=settings.get("max_jobs"), max_parallel=settings.get("max_parallel") or 1,
                        strategy=settings.get("strategy") or "Bayesian",
                        early_stopping=settings.get("early_stopping") or "Off",
                        random_seed=settings.get("random_seed"), warm_start=tuple(settings.get("warm_start") or ()))
    check_tuning(tuning)
    return tuning


def tuning_name(spec: PipelineSpec) -> str:
    prefix = requests.literal(spec.name)[1:-1]
    return f"States.Format('{prefix}-{{}}', States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 0))"


def tuning_parameters(spec: PipelineSpec, tuning: TuningSpec, training: dict[str, Any],
                      plain: dict[str, Any]) -> dict[str, Any]:
    """CreateHyperParameterTuningJob from the bound CreateTrainingJob parameters (``training``) and the
    plan's own request (``plain``)."""
    request = tuning_request(tuning, plain)
    definition: dict[str, Any] = {}
    for key, value in copy.deepcopy(training).items():
        if key in ("TrainingJobName.$", "Tags"):
            continue
        key = {"HyperParameters.$": "StaticHyperParameters.$",
               "ResourceConfig": "HyperParameterTuningResourceConfig"}.get(key, key)
        definition[key] = value
    parameters: dict[str, Any] = {"HyperParameterTuningJobName.$": tuning_name(spec),
                                  "HyperParameterTuningJobConfig": request["HyperParameterTuningJobConfig"],
                                  "TrainingJobDefinition": definition}
    if "WarmStartConfig" in request:
        parameters["WarmStartConfig"] = request["WarmStartConfig"]
    parameters["Tags"] = request["Tags"]
    return parameters


def tune_states(spec: PipelineSpec, tuning: TuningSpec, training: dict[str, Any], plain: dict[str, Any],
                selector: dict[str, str], task: Any) -> dict[str, Any]:
    """``Tune`` then ``Best trial`` (which leaves at ``$.training`` what ``Train`` leaves there)."""
    return {
        "Tune": task(TUNING.sync_resource, tuning_parameters(spec, tuning, training, plain), "Best trial",
                     result_path="$.tuning", result_selector={"BestTrainingJob.$": "$.BestTrainingJob"}),
        "Best trial": task(SDK + "describeTrainingJob",
                           {"TrainingJobName.$": "$.tuning.BestTrainingJob.TrainingJobName"}, "Find group",
                           result_path="$.training", result_selector=selector),
    }

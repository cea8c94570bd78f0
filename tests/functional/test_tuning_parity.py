"""CreateHyperParameterTuningJob equals, field for field, what SDK v2's ``HyperparameterTuner(SKLearn(...)).fit()``
sends for the same estimator and ranges (captured against moto: tests/fixtures/parity/sdk_v2/capture_tuning.py).

Two fields differ by design and are compared apart: the source archive's URI (smtrain keeps each
submission under its own id, so two submissions never write over each other) and the tags
(smtrain's own tag and the run's provenance tags; the SDK sends none).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from smtrain.core.config import Config
from smtrain.planning.spec import TrainingSpec
from smtrain.planning.steps import ApiCall
from smtrain.planning.tuning import ParameterRange, TuningSpec, parse_range, plan_tune

REPO = Path(__file__).resolve().parents[2]
CAPTURED = json.loads((REPO / "tests/fixtures/parity/sdk_v2/tuning_requests.json").read_text())
ROOT = "s3://parity-bucket/smtrain"
SOURCE = "sagemaker_submit_directory"


def smtrain_request(settings: dict[str, Any]) -> dict[str, Any]:
    sdk = CAPTURED["cases"]
    definition = next(iter(sdk.values()))["request"]["TrainingJobDefinition"]
    training = TrainingSpec(
        entry_point="penguins.py", source_dir=REPO / "entry_points",
        channels={"train": "s3://parity-bucket/data/penguins/train/"},
        hyperparameters={"target": "sex", "max-iter": 200}, job_name="penguins-tune-parity",
        metric_definitions={"train_accuracy": "train_accuracy=([0-9.]+)", "test_accuracy": "test_accuracy=([0-9.]+)"},
        instance_type="ml.m5.large", instance_count=1, submission_id="s1",
    )
    ranges: tuple[ParameterRange, ...]
    if settings["ranges"] == "all":
        ranges = (parse_range("C=continuous:0.01:10:log"), parse_range("solver=categorical:lbfgs,liblinear"),
                  parse_range("n-trees=integer:10:200:linear"))
    else:
        ranges = (parse_range("n-trees=integer:1:3"), parse_range("solver=categorical:lbfgs,liblinear"))
    spec = TuningSpec(training=training, ranges=ranges, objective="test_accuracy",
                      objective_type=settings["objective_type"], max_jobs=settings["max_jobs"],
                      max_parallel=settings["max_parallel_jobs"], strategy=settings["strategy"],
                      early_stopping=settings["early_stopping_type"], random_seed=settings["random_seed"],
                      warm_start=(settings["warm_start"],) if settings.get("warm_start") else ())
    plan = plan_tune(spec, Config(backend="sagemaker", region="us-east-1"), root=ROOT,
                     image_uri=definition["AlgorithmSpecification"]["TrainingImage"], role=definition["RoleArn"])
    (call,) = [step for step in plan if isinstance(step, ApiCall)]
    return dict(call.params)


def without_designed_differences(request: dict[str, Any]) -> dict[str, Any]:
    request = copy.deepcopy(request)
    request.pop("Tags", None)
    request["TrainingJobDefinition"]["StaticHyperParameters"].pop(SOURCE)
    return request


@pytest.mark.parametrize("case", sorted(CAPTURED["cases"]))
def test_request_equals_the_sdk_field_for_field(case: str) -> None:
    captured = CAPTURED["cases"][case]
    ours = smtrain_request(captured["settings"])
    assert without_designed_differences(ours) == without_designed_differences(captured["request"])


@pytest.mark.parametrize("case", sorted(CAPTURED["cases"]))
def test_designed_differences(case: str) -> None:
    ours = smtrain_request(CAPTURED["cases"][case]["settings"])
    static = ours["TrainingJobDefinition"]["StaticHyperParameters"]
    assert json.loads(static[SOURCE]) == f"{ROOT}/penguins-tune-parity/source/s1/sourcedir.tar.gz"
    assert {"Key": "smtrain:managed", "Value": "true"} in ours["Tags"]
    assert "Tags" not in CAPTURED["cases"][case]["request"]

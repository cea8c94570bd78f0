"""CreateModel and CreateTransformJob equal, field for field, what SDK v2 sends for
``SKLearn(...).transformer(...).transform(...)`` and ``Transformer(model_name, ...).transform(...)``
(captured against moto: tests/fixtures/parity/sdk_v2/capture_transform.py).

smtrain's requests are built by the Session itself, over a backend whose DescribeTrainingJob answers
what moto answered the SDK: the model is served on the job's own image with its program and source,
as ``deploy`` serves it. One difference is by design and compared apart: smtrain adds its own tag
(``smtrain:managed``) to what it creates.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from smtrain.api.session import Session
from smtrain.core.config import Config
from smtrain.core.sdk_config import SdkDefaults
from smtrain.execution.executor import QuietReporter
from smtrain.planning.steps import ApiCall
from smtrain.planning.transform import ServedModel, TransformSpec, plan_transform

REPO = Path(__file__).resolve().parents[2]
CAPTURED = json.loads((REPO / "tests/fixtures/parity/sdk_v2/transform_requests.json").read_text())
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
SMTRAIN_TAG = {"Key": "smtrain:managed", "Value": "true"}
# SDK argument -> smtrain's (Session.transform's keyword arguments are smtrain's flags).
ARGUMENTS = {"output_path": "output_uri", "instance_count": "instance_count", "instance_type": "instance_type",
             "strategy": "strategy", "assemble_with": "assemble_with", "accept": "accept",
             "max_concurrent_transforms": "max_concurrent", "max_payload": "max_payload_mb", "env": "environment",
             "output_kms_key": "output_kms_key", "volume_kms_key": "volume_kms_key", "content_type": "content_type",
             "split_type": "split_type", "compression_type": "compression", "input_filter": "input_filter",
             "join_source": "join_source", "output_filter": "output_filter"}


class MotoAnswers:
    """The training job as moto described it to the SDK."""

    def __init__(self, description: dict[str, Any]) -> None:
        self.description = description

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        assert TrainingJobName == self.description["TrainingJobName"]
        return copy.deepcopy(self.description)


class Backend:
    name = "sagemaker"
    runs_here = False

    def __init__(self, description: dict[str, Any]) -> None:
        self.config = Config(backend="sagemaker", region=REGION, role=ROLE)
        self.client = MotoAnswers(description)

    def sagemaker(self) -> MotoAnswers:
        return self.client

    def resolved_config(self) -> Config:
        return self.config

    def artifact_root(self) -> str:
        return "s3://parity-bucket/smtrain"

    def role(self) -> str:
        return ROLE

    def sdk_defaults(self) -> SdkDefaults:
        return SdkDefaults()


def options(settings: dict[str, Any]) -> dict[str, Any]:
    """Session.transform's arguments for the SDK's; what the SDK was not given is not given to smtrain either."""
    given: dict[str, Any] = {"content_type": "", "accept": "", "split_type": "", "strategy": "", "assemble_with": ""}
    given.update({ARGUMENTS[key]: value for key, value in settings.items() if key in ARGUMENTS})
    given["tags"] = {tag["Key"]: tag["Value"] for tag in settings.get("tags", [])}
    return given


def smtrain_requests(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    settings = case["settings"]
    arguments = options(settings)
    if settings["via"] == "estimator":
        session = Session.__new__(Session)
        session.config, session.reporter = Config(backend="sagemaker", region=REGION, role=ROLE), QuietReporter()
        session.backend = Backend(case["requests"]["DescribeTrainingJobResponse"])  # type: ignore[assignment]
        job = case["requests"]["DescribeTrainingJobResponse"]["TrainingJobName"]
        spec = session.transform_spec(job, input=CAPTURED["input"], job_name=settings["name"], **arguments)
        plan = session.plan_transform(spec)
    else:  # an existing model: no CreateModel
        spec = TransformSpec(source=settings["name"], input_uri=CAPTURED["input"], job_name=settings["name"],
                             **arguments)
        plan = plan_transform(spec, Config(backend="sagemaker", region=REGION), ServedModel(settings["name"]),
                              root="s3://parity-bucket/smtrain", role=ROLE)
    return {step.operation: dict(step.params) for step in plan if isinstance(step, ApiCall)}


def without_smtrain_tag(request: dict[str, Any]) -> dict[str, Any]:
    request = copy.deepcopy(request)
    tags = [tag for tag in request.pop("Tags", []) if tag != SMTRAIN_TAG]
    if tags:
        request["Tags"] = tags
    return request


def sdk_requests(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: request for name, request in case["requests"].items() if not name.endswith("Response")}


@pytest.mark.parametrize("name", sorted(CAPTURED["cases"]))
def test_requests_equal_the_sdks_field_for_field(name: str) -> None:
    case = CAPTURED["cases"][name]
    ours, sdk = smtrain_requests(case), sdk_requests(case)
    assert sorted(ours) == sorted(sdk)
    for operation in sdk:
        assert without_smtrain_tag(ours[operation]) == sdk[operation], operation


@pytest.mark.parametrize("name", sorted(CAPTURED["cases"]))
def test_smtrain_tags_what_it_creates(name: str) -> None:
    for request in smtrain_requests(CAPTURED["cases"][name]).values():
        assert request["Tags"][0] == SMTRAIN_TAG


def test_the_captures_cover_both_ways_and_every_flag() -> None:
    ways = {case["settings"]["via"] for case in CAPTURED["cases"].values()}
    assert ways == {"estimator", "model_name"}
    given = set().union(*(case["settings"] for case in CAPTURED["cases"].values()))
    assert set(ARGUMENTS) <= given

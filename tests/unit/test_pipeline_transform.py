"""`pipeline export --transform-input`: a batch step (createTransformJob.sync) after the gate, beside or instead of
the endpoint; the CloudFormation role gains exactly what the step needs, and the template stays cfn-lint clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import smtrain
from smtrain.core.config import Config
from smtrain.core.errors import UsageError
from smtrain.pipeline.build import Exported, export, pipeline_spec
from smtrain.pipeline.cfn import policy, template
from smtrain.pipeline.checks import check_definition
from smtrain.pipeline.spec import Gate
from smtrain.planning.transform import transform_request
from tests.conftest import REPO
from tests.pipeline_examples import HYPERPARAMETERS, METRIC, ROOT
from tests.unit.test_pipeline_export import cfn_lint, shape

INPUT = "s3://example-bucket/smtrain/data/penguins/batch/"


@pytest.fixture
def session(home: Path, monkeypatch: pytest.MonkeyPatch) -> smtrain.Session:
    monkeypatch.setattr("smtrain.runs.provenance.run_tags", lambda source_dir: {"smtrain:git-commit": "0" * 40})
    return smtrain.Session(quiet=True, backend="sagemaker", region="us-east-1", bucket="example-bucket",
                           role="arn:aws:iam::123456789012:role/SageMakerRole")


def exported(session: smtrain.Session, *, endpoint: bool = True, transform_input: str = INPUT,
             **deploy: Any) -> Exported:
    spec = pipeline_spec(
        session, name="penguins", entry_point="penguins.py",
        fit={"source_dir": REPO / "entry_points", "channels": {"train": f"{ROOT}/data/penguins/train/"},
             "hyperparameters": HYPERPARAMETERS, "metric_definitions": {METRIC: r"train_accuracy=([0-9.]+)"}},
        group="penguins", approve=True, deploy=dict(deploy), gate=Gate(METRIC, 0.8), timeout_seconds=7200,
        transform_input=transform_input, endpoint=endpoint)
    return export(session, spec, root=ROOT)


def statements(document: Exported) -> dict[str, Any]:
    return {s["Sid"]: s for s in policy(document)["Statement"]}


def test_the_batch_step_runs_on_the_gated_model_then_the_endpoint_is_deployed(session: smtrain.Session) -> None:
    states = exported(session).definition["States"]
    assert states["Create model"]["Next"] == "Transform"
    step = states["Transform"]
    assert step["Resource"] == "arn:aws:states:::sagemaker:createTransformJob.sync"
    assert step["Next"] == "Create endpoint config" and step["Catch"][0]["Next"] == "Clean up"
    parameters = step["Parameters"]
    assert parameters["ModelName.$"] == "$.names.model"
    assert parameters["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri.$"] == "$.args.transform_input"
    assert parameters["TransformOutput"]["S3OutputPath.$"].startswith(f"States.Format('{ROOT}/output/penguins-")
    assert "$$.State.RetryCount" in parameters["TransformJobName.$"]  # a retried step gets a fresh name
    defaults = states["Apply defaults"]["Parameters"]["defaults"]
    assert defaults["transform_input"] == INPUT and defaults["endpoint_name"] == "penguins"


def test_the_task_parameters_are_plan_transforms_request_key_for_key(session: smtrain.Session) -> None:
    document = exported(session)
    planned = transform_request(document.spec.transform, Config(backend="sagemaker", region="us-east-1"),  # type: ignore[arg-type]
                                model_name="m", input_uri=INPUT, output_uri="s3://b/o/")
    assert shape(document.definition["States"]["Transform"]["Parameters"]) == shape(planned)


def test_no_endpoint_makes_the_batch_step_the_end(session: smtrain.Session) -> None:
    document = exported(session, endpoint=False)
    states = document.definition["States"]
    assert states["Transform"]["Next"] == "Transformed" and states["Transformed"] == {"Type": "Succeed"}
    assert not [name for name in states if "ndpoint" in name]
    assert "endpoint_name" not in states["Apply defaults"]["Parameters"]["defaults"]
    assert states["Clean up"]["Default"] == "Failed" and states["Clean up"]["Choices"][0]["Next"] == "Delete model"
    check_definition(document.definition, where="definition")  # what the local runner accepts


def test_the_role_gains_exactly_what_the_batch_step_needs(session: smtrain.Session) -> None:
    base = statements(export(session, pipeline_spec(
        session, name="penguins", entry_point="penguins.py",
        fit={"source_dir": REPO / "entry_points", "channels": {"train": f"{ROOT}/data/penguins/train/"},
             "hyperparameters": HYPERPARAMETERS, "metric_definitions": {METRIC: r"train_accuracy=([0-9.]+)"}},
        group="penguins", approve=True, deploy={}, gate=Gate(METRIC, 0.8), timeout_seconds=7200), root=ROOT))
    batch = statements(exported(session))
    assert set(batch) - set(base) == {"CreateTransformJob", "DescribeTransformJob", "StopTransformJob", "ListTags",
                                      "FollowTransformJobs"}
    arn = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:"
    assert batch["CreateTransformJob"]["Resource"] == [{"Fn::Sub": f"{arn}transform-job/penguins-*"}]
    assert batch["ListTags"]["Resource"] == [{"Fn::Sub": f"{arn}transform-job/penguins-*"}]
    assert {"Fn::Sub": f"{arn}transform-job/penguins-*"} in batch["AddTags"]["Resource"]
    assert batch["FollowTransformJobs"]["Resource"]["Fn::Sub"].endswith(
        "rule/StepFunctionsGetEventsForSageMakerTransformJobsRule")
    alone = statements(exported(session, endpoint=False))
    assert not [sid for sid in alone if "Endpoint" in sid]


@pytest.mark.parametrize("endpoint", [True, False])
def test_the_templates_pass_cfn_lint(session: smtrain.Session, endpoint: bool) -> None:
    assert cfn_lint(template(exported(session, endpoint=endpoint))) == []


@pytest.mark.parametrize(("arguments", "where"), [
    ({"transform_input": "", "endpoint": False}, "--no-endpoint"),
    ({"endpoint": False, "ttl_seconds": 60}, "--ttl"),
    ({"transform_input": "data/batch.csv"}, "--transform-input"),
])
def test_what_cannot_work_is_refused(session: smtrain.Session, arguments: dict[str, Any], where: str) -> None:
    with pytest.raises(UsageError) as refused:
        exported(session, **arguments)
    assert refused.value.where == where

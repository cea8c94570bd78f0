"""The exported definition: the plans' requests key for key, run-time values as JSONPath, golden files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import smtrain
from smtrain.core.config import Config
from smtrain.core.errors import UsageError
from smtrain.pipeline.build import Exported
from smtrain.pipeline.cfn import actions_used, template
from smtrain.pipeline.export import definition_hash, plan_hash
from smtrain.pipeline.mermaid import markdown
from smtrain.pipeline.spec import Gate
from smtrain.planning.model_package import plan_register
from smtrain.planning.plan import LOCAL_IMAGE, LOCAL_ROLE, plan_deploy, plan_fit
from smtrain.planning.spec import DeploySpec
from tests.conftest import REPO
from tests.pipeline_examples import ROOT, penguins

GOLDEN = REPO / "tests" / "golden"


@pytest.fixture
def session(home: Path, monkeypatch: pytest.MonkeyPatch) -> smtrain.Session:
    # The run's provenance (git commit, versions) changes with every commit: pin it, so the golden files do not.
    monkeypatch.setattr("smtrain.runs.provenance.run_tags", lambda source_dir: {"smtrain:git-commit": "0" * 40})
    return smtrain.Session(quiet=True)


@pytest.fixture
def exported(session: smtrain.Session) -> Exported:
    return penguins(session)


def keys(value: Any) -> Any:
    """The shape of a request: keys (``.$`` stripped) all the way down."""
    if isinstance(value, dict):
        return {k.removesuffix(".$"): keys(v) for k, v in value.items() if not k.endswith(".$")} | {
            k.removesuffix(".$"): "<run time>" for k in value if k.endswith(".$")}
    if isinstance(value, list):
        return [keys(v) for v in value]
    return "<value>"


def shape(value: Any) -> Any:
    """Like :func:`keys`, but a run-time value and a literal compare equal."""
    if isinstance(value, dict):
        return {k.removesuffix(".$"): shape(v) if not k.endswith(".$") else None for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return None


def loose(value: Any) -> Any:
    """A plan request with every leaf as None, so it compares with :func:`shape` of a Task's parameters."""
    if isinstance(value, dict):
        return {k: loose(v) if isinstance(v, dict | list) else None for k, v in value.items()}
    if isinstance(value, list):
        return [loose(v) for v in value]
    return None


def collapse(a: Any, b: Any) -> tuple[Any, Any]:
    """Where one side binds a whole object at run time (None), compare only that the key exists."""
    if isinstance(a, dict) and isinstance(b, dict):
        pairs = {k: collapse(a.get(k), b.get(k)) for k in set(a) | set(b)}
        return ({k: p[0] for k, p in pairs.items() if k in a}, {k: p[1] for k, p in pairs.items() if k in b})
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs_list = [collapse(x, y) for x, y in zip(a, b, strict=True)]
        return [p[0] for p in pairs_list], [p[1] for p in pairs_list]
    if a is None or b is None:
        return None, None
    return a, b


def same_keys(task_parameters: dict[str, Any], request: dict[str, Any]) -> None:
    left, right = collapse(shape(task_parameters), loose(request))
    assert left == right


def test_task_parameters_are_the_plans_requests_key_for_key(exported: Exported) -> None:
    states = exported.definition["States"]
    config = Config()
    training = exported.spec.training
    fit = plan_fit(training, config, root=ROOT, image_uri=LOCAL_IMAGE, role=LOCAL_ROLE)
    same_keys(states["Train"]["Parameters"], dict(fit[1].params))  # type: ignore[union-attr]
    deploy = plan_deploy(DeploySpec(job_name="j", endpoint_name="penguins", ttl_seconds=3600), config,
                         image_uri="img", role=LOCAL_ROLE, model_data="s3://m", program="penguins.py",
                         submit_directory="s3://s", tags=[{"Key": "smtrain:expires-at", "Value": "2026"}])
    same_keys(states["Create model"]["Parameters"], dict(deploy[0].params))  # type: ignore[union-attr]
    same_keys(states["Create endpoint config"]["Parameters"], dict(deploy[1].params))  # type: ignore[union-attr]
    same_keys(states["Create endpoint"]["Parameters"], dict(deploy[2].params))  # type: ignore[union-attr]
    job = {"TrainingJobName": "j", "ModelArtifacts": {"S3ModelArtifacts": "s3://m"},
           "HyperParameters": dict(fit[1].params)["HyperParameters"]}  # type: ignore[union-attr]
    register = plan_register(job, group="penguins", approve=True, image_uri="img", region="us-east-1")
    same_keys(states["Create group"]["Parameters"], dict(register[0].params))  # type: ignore[union-attr]
    same_keys(states["Register"]["Parameters"], dict(register[1].params))  # type: ignore[union-attr]


def test_run_time_values_are_expressions_never_frozen(exported: Exported) -> None:
    states = exported.definition["States"]
    train = states["Train"]["Parameters"]
    assert train["TrainingJobName.$"] == ("States.Format('penguins-{}-train-{}', $$.Execution.Name, "
                                          "$$.State.RetryCount)")
    assert train["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri.$"] == "$.channels['train']"
    assert train["HyperParameters.$"] == "States.JsonMerge($.hyperparameters, $.sdk, false)"
    assert states["Encode hyperparameters"]["QueryLanguage"] == "JSONata"  # overrides are plain JSON values
    assert train["ResourceConfig"]["InstanceType.$"] == "$.args.instance_type"
    container = states["Create model"]["Parameters"]["PrimaryContainer"]
    assert container["Image.$"] == "$.training.TrainingImage"  # the training job's own image
    assert "Image" not in container and "ModelDataUrl" not in container
    assert states["Train"]["ResultSelector"]["TrainingImage.$"] == "$.AlgorithmSpecification.TrainingImage"
    assert states["Create endpoint"]["Parameters"]["EndpointName.$"] == "$.args.endpoint_name"
    defaults = states["Apply defaults"]["Parameters"]["defaults"]
    assert defaults["hyperparameters"]["C"] == "0.5" and defaults["threshold"] == 0.8
    assert set(defaults) == {"channels", "hyperparameters", "instance_type", "instance_count", "threshold",
                             "endpoint_name"}


def test_cost_guards_and_retries(session: smtrain.Session) -> None:
    spot = penguins(session, gate=Gate())
    assert spot.definition["TimeoutSeconds"] == 7200
    states = spot.definition["States"]
    assert states["Train"]["Parameters"]["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    for task in ("Create model", "Create endpoint config", "Create endpoint"):
        assert {"Key": "smtrain:expires-at", "Value.$": "$.expires_at"} in states[task]["Parameters"]["Tags"]
    assert states["Promoted"]["Default"] == "Set expiry" and states["Set expiry"]["Next"] == "Create model"
    for name, state in states.items():
        generic = "SageMaker.SageMakerException" if ":aws-sdk:" in state.get("Resource", "") else \
            "SageMaker.AmazonSageMakerException"
        for retrier in state.get("Retry", []):
            assert retrier["ErrorEquals"] == [generic] and retrier["MaxAttempts"] == 3, name
    assert "Retry" not in states["Find group"] and "Retry" not in states["Find endpoint"]  # probes: no retry
    assert "Read metric" not in states and states["Find group"]["Next"] == "Approve"


def test_the_expiry_is_the_tag_deploy_ttl_writes(exported: Exported) -> None:
    """JSONata computes it when the model is created, in the format `smtrain deploy --ttl` writes."""
    import datetime as dt

    from smtrain.api.endpoints import ttl_tags
    from smtrain.pipeline.runner import Execution, Runner

    state = exported.definition["States"]["Set expiry"]
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    output, next_state = Runner(exported.definition, None).step(Execution("x"), "Set expiry", state, {"a": 1},
                                                                {"Execution": {"Name": "x"}, "State": {}})
    [expected] = ttl_tags(3600)
    assert next_state == "Create model" and output["a"] == 1
    assert len(output["expires_at"]) == len(expected["Value"])
    expires = dt.datetime.strptime(output["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert dt.timedelta(seconds=3600) <= expires - before <= dt.timedelta(seconds=3660)


def test_the_plan_hash_is_in_the_comment_and_changes_with_the_plan(session: smtrain.Session) -> None:
    first = penguins(session).definition
    assert definition_hash(first) == plan_hash(first)
    changed = penguins(session, hyperparameters={"C": 2}).definition
    assert definition_hash(changed) != definition_hash(first)


def test_bad_pipeline_options_are_refused(session: smtrain.Session) -> None:
    with pytest.raises(UsageError, match="not captured"):
        penguins(session, gate=Gate("validation:auc", 0.5))
    with pytest.raises(UsageError, match="nothing to compare"):
        penguins(session, gate=Gate("train:accuracy"))
    with pytest.raises(UsageError, match="pipeline name"):
        penguins(session, name="A-very-long-pipeline-name")


def test_least_privilege_role(exported: Exported) -> None:
    statements = template(exported)["Resources"]["StateMachineRole"]["Properties"]["Policies"][0][
        "PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    sagemaker_actions = sorted(s["Action"].removeprefix("sagemaker:") for s in statements
                               if isinstance(s["Action"], str) and s["Action"].startswith("sagemaker:"))
    assert sagemaker_actions == actions_used(exported.definition)
    assert "sagemaker:*" not in json.dumps(statements)
    assert by_sid["CreateTrainingJob"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:training-job/penguins-*"}]
    assert by_sid["PassExecutionRole"]["Resource"] == LOCAL_ROLE
    assert by_sid["FollowTrainingJobs"]["Action"] == ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
    assert by_sid["FollowTrainingJobs"]["Resource"]["Fn::Sub"].endswith(
        "rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule")


def check_golden(name: str, document: dict[str, Any]) -> None:
    path = GOLDEN / name
    text = json.dumps(document, indent=2) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.read_text() == text, f"{name} changed; if intended, rerun with UPDATE_GOLDEN=1"


def test_golden_definition(exported: Exported) -> None:
    check_golden("pipeline_penguins.asl.json", exported.definition)


def test_golden_template(exported: Exported) -> None:
    check_golden("pipeline_penguins.cfn.json", template(exported))


def cfn_lint(document: dict[str, Any]) -> list[str]:
    """cfn-lint's errors (E rules) for a template; warnings and informational notes are not failures."""
    from cfnlint.api import lint

    return [f"{m.rule.id} {m.message}" for m in lint(json.dumps(document), regions=["us-east-1"])
            if m.rule.id.startswith("E")]


@pytest.mark.parametrize("gate", [Gate(), Gate("train:accuracy", 0.8), Gate("train:accuracy", champion=True)])
def test_every_template_passes_cfn_lint(session: smtrain.Session, gate: Gate) -> None:
    assert cfn_lint(template(penguins(session, gate=gate, serverless_memory_mb=2048))) == []


def test_the_golden_template_passes_cfn_lint() -> None:
    assert cfn_lint(json.loads((GOLDEN / "pipeline_penguins.cfn.json").read_text())) == []


def test_cfn_lint_does_flag_a_broken_definition(exported: Exported) -> None:
    broken = template(exported)
    broken["Resources"]["StateMachine"]["Properties"]["Definition"]["States"]["Train"]["Type"] = "Taks"
    assert any(error.startswith("E3601") for error in cfn_lint(broken))


def test_the_readme_picture_is_generated_from_the_definition(session: smtrain.Session) -> None:
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- pipeline-mermaid:start -->\n") + len("<!-- pipeline-mermaid:start -->\n")
    end = readme.index("<!-- pipeline-mermaid:end -->")
    picture = markdown(penguins(session, channel=f"{ROOT}/data/penguins/train/",
                                hyperparameters={}, gate=Gate("train:accuracy", 0.8, champion=True)).definition)
    assert readme[start:end] == picture, "regenerate it: smtrain pipeline export --format mermaid (README flags)"


def test_now_is_the_evaluation_time_even_for_a_cached_expression() -> None:
    """jsonata-python's $millis() reads the thread's last constructed expression: a cached one must not be stale."""
    import time

    from smtrain.pipeline.expressions import evaluate

    first = evaluate("{% $millis() %}", {})
    evaluate("{% $millis() + 1 %}", {})  # constructs another expression, which becomes the thread's current one
    time.sleep(0.02)
    again = evaluate("{% $millis() %}", {})  # the cached first expression, evaluated later
    assert again >= first + 20

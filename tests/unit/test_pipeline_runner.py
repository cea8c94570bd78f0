"""The interpreter's pieces: paths, intrinsics, Choice rules, and what it refuses."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import smtrain
from smtrain.core.errors import UsageError
from smtrain.pipeline.checks import check_definition, check_input
from smtrain.pipeline.paths import StatesError, evaluate, put, render, select
from smtrain.pipeline.runner import Execution, Runner, error_name, load_definition, parse_input
from smtrain.pipeline.states import choose, matches
from tests.pipeline_examples import penguins

CONTEXT = {"Execution": {"Name": "run-1"}, "State": {"RetryCount": 2}}
DATA = {"a": {"b": 1, "list": [10, 20]}, "hp": {"C": "1"}, "input": {"C": "2"},
        "metrics": [{"MetricName": "acc", "Value": 0.9}, {"MetricName": "loss", "Value": 0.1}]}


@pytest.fixture
def definition(home: Path) -> dict[str, Any]:
    return penguins(smtrain.Session(quiet=True)).definition


@pytest.mark.parametrize(("expression", "expected"), [
    ("$.a.b", 1),
    ("$$.Execution.Name", "run-1"),
    ("$.metrics[?(@.MetricName == 'acc')].Value", [0.9]),
    ("States.Format('p-{}-train-{}', $$.Execution.Name, $$.State.RetryCount)", "p-run-1-train-2"),
    ("States.Format('\"{}\"', $$.Execution.Name)", '"run-1"'),
    ("States.Format('it\\'s {}', $.a.b)", "it's 1"),
    ("States.JsonMerge($.hp, $.input, false)", {"C": "2"}),
    ("States.ArrayGetItem($.a.list, 1)", 20),
    ("States.MathAdd($.a.b, $.a.b)", 2),
    ("States.ArrayGetItem($.metrics[?(@.MetricName == 'loss')].Value, 0)", 0.1),
])
def test_paths_and_intrinsics(expression: str, expected: Any) -> None:
    assert evaluate(expression, DATA, CONTEXT) == expected


@pytest.mark.parametrize(("expression", "message"), [
    ("$.missing", "matched nothing"),
    ("States.Hash($.a, 'SHA-1')", "not supported"),
    ("States.ArrayGetItem($.metrics[?(@.MetricName == 'auc')].Value, 0)", "no item 0"),
    ("States.JsonMerge($.hp, $.input, true)", "shallow"),
])
def test_runtime_errors_are_states_errors(expression: str, message: str) -> None:
    with pytest.raises(StatesError, match=message):
        evaluate(expression, DATA, CONTEXT)


def test_result_path_and_parameters() -> None:
    assert put(DATA, None, 5) is DATA
    assert put(DATA, "$", 5) == 5
    updated = put(DATA, "$.x.y", 5)
    assert updated["x"] == {"y": 5} and "x" not in DATA  # the input is not changed
    assert render({"k.$": "$.a.b", "nested": [{"n.$": "$$.Execution.Name"}], "v": 1}, DATA, CONTEXT) == {
        "k": 1, "nested": [{"n": "run-1"}], "v": 1}


def test_choice_rules() -> None:
    state = {"Type": "Choice", "Default": "d", "Choices": [
        {"And": [{"Variable": "$.a.b", "IsPresent": True}, {"Not": {"Variable": "$.a.b", "IsString": True}}],
         "Next": "typed"}]}
    assert choose(state, DATA, CONTEXT) == "typed"
    assert choose(state, {"a": {"b": "x"}}, CONTEXT) == "d"
    assert choose({"Choices": [{"Variable": "$.a.b", "NumericGreaterThanEqualsPath": "$.a.b", "Next": "ge"}]},
                  DATA, CONTEXT) == "ge"
    with pytest.raises(StatesError, match="NoChoiceMatched"):
        choose({"Choices": [{"Variable": "$.a.b", "StringEquals": "x", "Next": "n"}]}, DATA, CONTEXT)
    assert matches(["States.TaskFailed"], "SageMaker.ValidationException")
    assert not matches(["States.TaskFailed"], "States.Timeout")
    assert not matches(["SageMaker.ThrottlingException"], "States.TaskFailed")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["States"]["Train"].update(Type="Map"), "state type 'Map' is not supported"),
    (lambda d: d["States"]["Train"].update(Resource="arn:aws:states:::lambda:invoke"), "not a SageMaker"),
    (lambda d: d.update(QueryLanguage="JSONata"), "QueryLanguage"),
    (lambda d: d["States"]["Train"].update(InputPath="$.x"), "InputPath"),
    (lambda d: d["States"]["Train"].update(Next="Nowhere"), "'Nowhere', which is not a state"),
    (lambda d: d["States"]["Read metric"]["Parameters"].update({"h.$": "States.Hash($.a, 'MD5')"}), "States.Hash"),
    (lambda d: d["States"]["Promoted"]["Choices"][0].update(TimestampEquals="x"), "TimestampEquals"),
    (lambda d: d["States"]["Train"].update(QueryLanguage="JSONata"), "QueryLanguage 'JSONata' is not supported"),
    (lambda d: d["States"]["Check input"].update(Parameters={}), "Parameters not supported on a Pass"),
    (lambda d: d["States"]["Invalid input"].update(Cause="{% $join( %}"), "cannot read the JSONata"),
    (lambda d: d["States"]["Input valid"]["Choices"][0].update(Variable="$.x"), "exactly a Condition"),
])
def test_the_runner_refuses_what_the_exporter_does_not_emit(definition: dict[str, Any], change: Any,
                                                            message: str) -> None:
    changed = copy.deepcopy(definition)
    change(changed)
    with pytest.raises(UsageError, match=message):
        check_definition(changed, where="test")
    with pytest.raises(UsageError):
        Runner(changed, client=None)


class NoCalls:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} was called")


BAD_INPUTS = [
    ({"instance_cont": 2}, "unknown key 'instance_cont' in input"),
    ({"instance_count": "2"}, "instance_count must be a whole number"),
    ({"threshold": "high"}, "threshold must be a number"),
    ({"channels": {"validation": "s3://x/"}}, "unknown key 'validation' in channels"),
    ({"channels": {"train": 3}}, "channels.train must be a string"),
    ({"hyperparameters": "C=0.5"}, "hyperparameters must be"),
    ({"hyperparameters": {"sagemaker_program": "x.py"}}, "set by the pipeline"),
    ({"endpoint_name": ["a"]}, "endpoint_name must be a string"),
]


@pytest.mark.parametrize(("execution_input", "message"), BAD_INPUTS)
def test_the_python_check_refuses_bad_input(definition: dict[str, Any], execution_input: dict[str, Any],
                                            message: str) -> None:
    """What `start` and `run --local` check before anything starts."""
    with pytest.raises(UsageError, match=message):
        check_input(definition, execution_input)


@pytest.mark.parametrize(("execution_input", "message"), BAD_INPUTS)
def test_the_definition_itself_refuses_bad_input(definition: dict[str, Any], execution_input: dict[str, Any],
                                                 message: str) -> None:
    """Step Functions cannot run the Python check: the definition's first states refuse the same input."""
    execution = Runner(definition, NoCalls()).run(execution_input, name="bad")
    assert (execution.status, execution.error) == ("FAILED", "InvalidInput")
    assert message in execution.cause


def test_the_definition_names_every_unknown_key_and_what_it_accepts(definition: dict[str, Any]) -> None:
    execution = Runner(definition, NoCalls()).run({"instance_cont": 2, "thresold": 1, "instance_count": 1.5},
                                                  name="bad")
    assert execution.cause == ("unknown keys 'instance_cont', 'thresold' in input; accepted: channels, "
                               "hyperparameters, instance_type, instance_count, threshold, endpoint_name; "
                               "instance_count must be a whole number")
    with pytest.raises(UsageError, match="unknown key 'instance_cont' in input") as caught:
        check_input(definition, {"instance_cont": 2})
    assert "accepted: channels, hyperparameters, instance_type" in caught.value.render()


def test_good_input_passes(definition: dict[str, Any]) -> None:
    good = {"channels": {"train": "s3://b/t/"}, "hyperparameters": {"C": 0.1, "kernel": "rbf"},
            "instance_type": "ml.m5.xlarge", "instance_count": 2, "threshold": 1, "endpoint_name": "other"}
    check_input(definition, good)
    context = {"Execution": {"Name": "x"}, "State": {}}
    checked = Runner(definition, NoCalls()).step(Execution("x"), "Check input", definition["States"]["Check input"],
                                                 good, context)
    assert checked == ({"problems": [], "input": good}, "Input valid")


def test_hyperparameters_are_encoded_as_plan_fit_encodes_them(definition: dict[str, Any]) -> None:
    from smtrain.planning.spec import encode_hyperparameters

    given = {"max_leaf_nodes": 31, "C": 0.25, "kernel": "rbf", "shuffle": True, "quoted": 'say "hi"'}
    state = definition["States"]["Encode hyperparameters"]
    context = {"Execution": {"Name": "x"}, "State": {}}
    output, _ = Runner(definition, NoCalls()).step(Execution("x"), "Encode hyperparameters", state,
                                                   {"defaults": {}, "input": {"hyperparameters": given}}, context)
    assert output["input"]["hyperparameters"] == encode_hyperparameters(given)
    assert output["input"]["channels"] == {}


def test_documents_and_input_text() -> None:
    with pytest.raises(UsageError, match="the definition is not JSON"):
        load_definition("{", where="x.json")
    with pytest.raises(UsageError, match="no States"):
        load_definition("{}", where="x.json")
    with pytest.raises(UsageError, match="must be a JSON object"):
        parse_input("[1]")
    assert parse_input('{"a": 1}') == {"a": 1}
    assert select("$.a", {"a": None}, CONTEXT) is None


class FakeSageMaker:
    """Just enough of SageMaker for a training step: a job that runs until ``finish_after`` polls."""

    def __init__(self, *, finish_after: int = 10**9, metrics: list[dict[str, Any]] | None = None) -> None:
        self.now = 0.0
        self.polls = 0
        self.finish_after = finish_after
        self.metrics = metrics or []
        self.calls: list[str] = []

    def clock(self) -> float:
        return self.now

    def create_training_job(self, **request: Any) -> dict[str, Any]:
        self.calls.append("create_training_job")
        self.request = request
        return {"TrainingJobArn": "arn"}

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.polls += 1
        self.now += 100  # each poll is 100 s later
        status = "Completed" if self.polls >= self.finish_after else "InProgress"
        return {"TrainingJobName": TrainingJobName, "TrainingJobStatus": status, "FinalMetricDataList": self.metrics,
                "ModelArtifacts": {"S3ModelArtifacts": "s3://m"},
                "AlgorithmSpecification": {"TrainingImage": "img"}}

    def stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.calls.append(f"stop_training_job {TrainingJobName}")
        return {}

    def describe_model_package_group(self, **_: Any) -> dict[str, Any]:
        return {}


def test_the_execution_timeout_stops_the_training_job(definition: dict[str, Any]) -> None:
    fake = FakeSageMaker()
    runner = Runner(definition, fake, sleep=lambda seconds: None, clock=fake.clock)
    execution = runner.run({}, name="slow")
    assert (execution.status, execution.error) == ("TIMED_OUT", "States.Timeout")
    assert fake.calls == ["create_training_job", "stop_training_job penguins-slow-train-0"]
    assert fake.polls == definition["TimeoutSeconds"] // 100 + 1
    assert "Clean up" not in [e.state for e in execution.history]  # a timeout is not caught, as in AWS


def test_a_job_without_the_gate_metric_fails_clearly(definition: dict[str, Any]) -> None:
    fake = FakeSageMaker(finish_after=1, metrics=[{"MetricName": "other", "Value": 1.0}])
    execution = Runner(definition, fake, sleep=lambda seconds: None).run({}, name="nometric")
    assert (execution.status, execution.error) == ("FAILED", "MetricMissing")
    assert "train:accuracy" in execution.cause


def test_spot_training_keeps_its_cost_guards(home: Path) -> None:
    from dataclasses import replace

    from smtrain.pipeline.export import export_definition

    exported = penguins(smtrain.Session(quiet=True))
    spec = replace(exported.spec, training=replace(exported.spec.training, spot=True, max_wait_seconds=7200))
    train = export_definition(spec, smtrain.Session(quiet=True).config, root="s3://b/smtrain", image_uri="img",
                              role="role")["States"]["Train"]["Parameters"]
    assert train["EnableManagedSpotTraining"] is True
    assert train["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 7200}
    assert train["CheckpointConfig"] == {
        "S3Uri.$": "States.Format('s3://b/smtrain/penguins-{}/checkpoints/', $$.Execution.Name)"}


def test_error_names_are_step_functions_names() -> None:
    """A modelled SageMaker error keeps its name; throttling and validation get the SDK's generic one."""
    assert error_name("ResourceNotFound", sdk=True) == "SageMaker.ResourceNotFoundException"
    assert error_name("ResourceLimitExceeded", sdk=False) == "SageMaker.ResourceLimitExceededException"
    assert error_name("ConflictException", sdk=True) == "SageMaker.ConflictException"
    assert error_name("ThrottlingException", sdk=True) == "SageMaker.SageMakerException"
    assert error_name("ThrottlingException", sdk=False) == "SageMaker.AmazonSageMakerException"
    assert error_name("ValidationException", sdk=False) == "SageMaker.AmazonSageMakerException"


def test_a_failed_model_package_takes_the_failure_path(definition: dict[str, Any]) -> None:
    fake = FakeSageMaker(finish_after=1, metrics=[{"MetricName": "train:accuracy", "Value": 0.9}])
    statuses = iter(["Pending", "InProgress", "Failed"])
    fake.list_model_packages = lambda **_: {"ModelPackageSummaryList": []}  # type: ignore[attr-defined]
    fake.create_model_package = lambda **_: {"ModelPackageArn": "arn:pkg/1"}  # type: ignore[attr-defined]
    fake.describe_model_package = lambda **_: {  # type: ignore[attr-defined]
        "ModelPackageArn": "arn:pkg/1", "ModelPackageStatus": next(statuses)}
    deleted: list[str] = []
    for operation in ("delete_endpoint_config", "delete_model"):
        setattr(fake, operation, lambda _op=operation, **_: deleted.append(_op) or {})
    waits: list[float] = []
    execution = Runner(definition, fake, sleep=waits.append).run({}, name="pkg")
    assert (execution.status, execution.error) == ("FAILED", "ModelPackageFailed")
    assert "arn:pkg/1" in execution.cause
    assert waits == [5, 10]  # it backs off between polls
    assert deleted == []  # no model, config or endpoint was created yet: the clean-up deletes nothing


@pytest.mark.parametrize(("value", "pattern", "expected"), [
    ('Could not find endpoint "arn:x". (Service: SageMaker)', "*Could not find endpoint *", True),
    ("Could not find endpoint configuration", "*Could not find endpoint *", True),
    ("Rate exceeded", "*Could not find endpoint *", False),
    ("a*c", "a\\*c", True),
    ("abc", "a\\*c", False),
    ("anything", "*", True),
    (3, "*", False),
])
def test_string_matches_is_asl_wildcards(value: Any, pattern: str, expected: bool) -> None:
    from smtrain.pipeline.states import string_matches

    assert string_matches(value, pattern) is expected


def test_depth_is_measured_without_recursion() -> None:
    from smtrain.pipeline.checks import depth_of

    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    assert depth_of(deep) == 100_000 and depth_of({"a": [1, {"b": 2}]}) == 3 and depth_of(5) == 0


def test_a_failed_jobs_description_is_shown_as_its_name_status_and_reason() -> None:
    import json

    from smtrain.pipeline.causes import readable_cause

    tuning = {"HyperParameterTuningJobName": "p-1", "HyperParameterTuningJobArn": "arn:...",
              "HyperParameterTuningJobStatus": "Failed", "FailureReason": "All 2 training jobs failed. First ..."}
    assert readable_cause(json.dumps(tuning)) == "p-1 Failed: All 2 training jobs failed. First ..."
    training = {"TrainingJobName": "t-1", "TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: x"}
    assert readable_cause(json.dumps(training)) == "t-1 Failed: AlgorithmError: x"
    for other in ("Could not find endpoint", '{"Status": "Failed"}', "[1]", '"text"'):
        assert readable_cause(other) == other  # anything else, as it is

"""Hostile definitions and inputs are refused before any state runs: exit 2, the state and the field named.

Each case edits the golden definition (what `pipeline export` writes) and hands it to
`smtrain pipeline run --local --definition`, as a user would. Nothing may run: no execution
record, no job, nothing under the home but what the CLI itself keeps.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smtrain.pipeline.checks import MAX_DEPTH
from tests.conftest import REPO
from tests.e2e.conftest import Cli, cli, workdir  # noqa: F401  (fixtures)

GOLDEN = json.loads((REPO / "tests" / "golden" / "pipeline_penguins.asl.json").read_text())


def nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"a": value}
    return value


def state(name: str, **fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["States"][name].update(fields)


def replace_state(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["States"].__setitem__(name, value)


def drop(name: str, field: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["States"][name].pop(field)


WAIT = "Wait for endpoint"
# (change, the place the message names, what it says)
CASES: list[tuple[Callable[[dict[str, Any]], None], str, str]] = [
    (replace_state("Train", "oops"), "state 'Train'", "the state is str, not an object"),
    (replace_state("Train", [1, 2]), "state 'Train'", "the state is list, not an object"),
    (replace_state("Deployed", None), "state 'Deployed'", "the state is NoneType, not an object"),
    (drop("Train", "Next"), "state 'Train'", "field Next: missing"),
    (state("Apply defaults", Next=None), "state 'Apply defaults'", "field Next: None"),
    (drop("Wait for endpoint", "Next"), f"state '{WAIT}'", "field Next: missing"),
    (state("Train", Resource="arn:aws:states:::sagemaker:fooBar"), "state 'Train': Resource",
     "'fooBar' is not an operation of the optimized SageMaker integration"),
    (state("Train", Resource="arn:aws:states:::sagemaker:db"), "state 'Train': Resource",
     "'db' is not an operation"),
    (state("Find group", Resource="arn:aws:states:::aws-sdk:sagemaker:fooBar"), "state 'Find group': Resource",
     "'fooBar' is not an operation of SageMaker's API"),
    (state("Find group", Resource="arn:aws:states:::aws-sdk:sagemaker:describeModelPackageGroup.sync"),
     "state 'Find group': Resource", "waits (.sync) only on createTrainingJob"),
    (state("Train", Resource="arn:aws:states:::lambda:invoke"), "state 'Train': Resource", "not a SageMaker"),
    (state("Train", Resource=["arn"]), "state 'Train': Resource", "not a SageMaker"),
    (replace_state(WAIT, {"Type": "Wait", "Seconds": -5, "Next": "Check endpoint"}), f"state '{WAIT}': Seconds",
     "field Seconds must be a whole number from 0"),
    (replace_state(WAIT, {"Type": "Wait", "Seconds": "soon", "Next": "Check endpoint"}), f"state '{WAIT}': Seconds",
     "not 'soon'"),
    (replace_state(WAIT, {"Type": "Wait", "Seconds": 1.5, "Next": "Check endpoint"}), f"state '{WAIT}': Seconds",
     "whole number"),
    (replace_state(WAIT, {"Type": "Wait", "Seconds": True, "Next": "Check endpoint"}), f"state '{WAIT}': Seconds",
     "whole number"),
    (state(WAIT, Seconds=5), f"state '{WAIT}'", "exactly one of Seconds and SecondsPath"),
    (state(WAIT, SecondsPath="$.wait[?(@.s =~ /(a+)+$/)]"), f"state '{WAIT}': SecondsPath",
     "is not a JSONPath Step Functions accepts"),
    (lambda d: d["States"]["Train"]["Retry"][0].update(MaxAttempts=-1), "state 'Train': Retry[0]",
     "MaxAttempts must be a whole number"),
    (lambda d: d["States"]["Train"]["Retry"][0].update(IntervalSeconds="5"), "state 'Train': Retry[0]",
     "IntervalSeconds must be a whole number"),
    (lambda d: d["States"]["Train"]["Retry"][0].update(BackoffRate=0.5), "state 'Train': Retry[0]",
     "BackoffRate must be a number from 1.0"),
    (lambda d: d["States"]["Train"]["Retry"][0].update(ErrorEquals=[]), "state 'Train': Retry[0]",
     "field ErrorEquals: a non-empty list"),
    (state("Train", Retry="always"), "state 'Train': Retry", "a list of retriers"),
    (lambda d: d["States"]["Train"]["Catch"][0].pop("Next"), "state 'Train': Catch[0]", "with ErrorEquals and Next"),
    (state("Promoted", Choices=[]), "state 'Promoted'", "field Choices: a Choice state needs a non-empty list"),
    (state("Promoted", Choices=["x"]), "state 'Promoted'", "field Choices[0]: a rule is an object with a Next"),
    (lambda d: d["States"]["Promoted"]["Choices"][0].update(Variable="$..status"), "state 'Promoted': Choices[0]",
     "field Variable: '$..status' is not a JSONPath"),
    (lambda d: d["States"]["Promoted"]["Choices"][0].update(StringMatches="x"), "state 'Promoted': Choices[0]",
     "exactly one operator"),
    (lambda d: d["States"]["Find group"]["Parameters"].update({"ModelPackageGroupName.$": "$.a[?(@.x =~ /a+/)]"}),
     "state 'Find group': Parameters.ModelPackageGroupName.$", "is not a JSONPath Step Functions accepts"),
    (lambda d: d["States"]["Find group"]["Parameters"].update({"ModelPackageGroupName.$": "$.a.`len`"}),
     "state 'Find group': Parameters.ModelPackageGroupName.$", "is not a JSONPath"),
    (lambda d: d["States"]["Find group"]["Parameters"].update({"ModelPackageGroupName.$": "1 + 1"}),
     "state 'Find group': Parameters.ModelPackageGroupName.$", "neither a path nor an intrinsic function"),
    (lambda d: d["States"]["Find group"]["Parameters"].update(
        {"ModelPackageGroupName.$": "States.Format('{}', $.a[?(@.x =~ /a+/)])"}),
     "state 'Find group': Parameters.ModelPackageGroupName.$", "is not a JSONPath"),
    (state("Find group", Parameters="x"), "state 'Find group': Parameters", "field Parameters must be an object"),
    (state("Train", ResultPath="$.x[*]"), "state 'Train': ResultPath", "is not a reference path"),
    (state("Train", ResultPath="$$.Execution"), "state 'Train': ResultPath", "is not a reference path"),
    (state("Failed", ErrorPath=7), "state 'Failed': ErrorPath", "is not a string"),
    (state("Find group", Parameters={"ModelPackageGroupName": nested(MAX_DEPTH)}), "state 'Find group'",
     f"nests deeper than {MAX_DEPTH} levels"),
    (lambda d: d.update(TimeoutSeconds=0), "TimeoutSeconds", "TimeoutSeconds must be a whole number from 1"),
    (lambda d: d.update(TimeoutSeconds="1d"), "TimeoutSeconds", "TimeoutSeconds must be a whole number"),
    (lambda d: d.update(StartAt=["Train"]), "StartAt", "StartAt ['Train'] is not a state"),
    (lambda d: d["States"].__setitem__("x" * 81, {"Type": "Succeed"}), "state 'xxxx", "at most 80 characters"),
]


def definition_file(folder: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    document = copy.deepcopy(GOLDEN)
    change(document)
    path = folder / "hostile.asl.json"
    path.write_text(json.dumps(document))
    return path


def assert_refused(cli: Cli, workdir: Path, argv: list[str], where: str, what: str) -> None:  # noqa: F811
    result = cli("pipeline", "run", "--local", *argv, "--execution-name", "h1")
    assert result.code == 2, result.err
    assert where in result.err and what in result.err, result.err
    assert "unexpected" not in result.err and "Traceback" not in result.err
    home = Path(cli.env["SMTRAIN_HOME"])
    assert not (home / "pipelines").exists()  # no execution was recorded: nothing ran
    assert not list(home.glob("**/h1*"))


@pytest.mark.parametrize(("change", "where", "what"), CASES)
def test_a_hostile_definition_is_refused_before_any_state_runs(
        cli: Cli, workdir: Path, change: Callable[[dict[str, Any]], None], where: str, what: str) -> None:  # noqa: F811
    path = definition_file(workdir, change)
    assert_refused(cli, workdir, ["--definition", str(path)], f"{path}: {where}", what)


def test_json_5000_deep_is_refused_not_a_recursion_error(cli: Cli, workdir: Path) -> None:  # noqa: F811
    path = workdir / "deep.asl.json"
    path.write_text('{"StartAt": "A", "States": {"A": ' + "[" * 5000 + "]" * 5000 + "}}")
    assert_refused(cli, workdir, ["--definition", str(path)], str(path), f"nests deeper than {MAX_DEPTH} levels")


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_definition_with_a_non_json_number_is_refused(cli: Cli, workdir: Path, text: str) -> None:  # noqa: F811
    path = workdir / "nan.asl.json"
    path.write_text(json.dumps(GOLDEN).replace('"IntervalSeconds": 5', f'"IntervalSeconds": {text}', 1))
    assert text in path.read_text()
    assert_refused(cli, workdir, ["--definition", str(path)], str(path), "is not JSON")


@pytest.mark.parametrize(("text", "what"), [
    ('{"threshold": -Infinity}', "-Infinity is not JSON"),
    ('{"threshold": NaN}', "NaN is not JSON"),
    ('{"threshold": Infinity}', "Infinity is not JSON"),
    ('{"threshold": 1e999}', "1e999 is too large for a JSON number"),
    ('{"hyperparameters": ' + '{"a": ' * 5000 + "1" + "}" * 5001, f"nests deeper than {MAX_DEPTH} levels"),
    ('{"hyperparameters": ' + '{"a": ' * 40 + "1" + "}" * 41, f"nests deeper than {MAX_DEPTH} levels"),
])
def test_non_json_or_too_deep_input_is_refused(cli: Cli, workdir: Path, text: str, what: str) -> None:  # noqa: F811
    path = definition_file(workdir, lambda d: None)
    assert_refused(cli, workdir, ["--definition", str(path), "--input", text], "--input", what)

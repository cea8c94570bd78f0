"""Refuse, before anything runs, a definition the runner does not cover or an input the pipeline does not take."""

from __future__ import annotations

import re
from typing import Any

from smtrain.core.errors import UsageError
from smtrain.planning.kinds import KINDS

from .paths import FUNCTIONS
from .states import OPERATORS

FIELDS = {
    "Pass": {"Type", "Comment", "Parameters", "Result", "ResultPath", "Next"},
    "Task": {"Type", "Comment", "Resource", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "Next"},
    "Choice": {"Type", "Comment", "Choices", "Default"},
    "Wait": {"Type", "Comment", "Seconds", "SecondsPath", "Next"},
    "Succeed": {"Type", "Comment"},
    "Fail": {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath"},
}
SYNC_RESOURCES = "|".join(re.escape(kind.sync_resource) for kind in KINDS)  # every kind's create-and-wait
RESOURCE = re.compile(rf"{SYNC_RESOURCES}|arn:aws:states:::(sagemaker:[a-z][A-Za-z]+|aws-sdk:sagemaker:[a-z][A-Za-z]+)")
# The JSONata states the exporter emits (a state's QueryLanguage; the machine's stays JSONPath).
JSONATA_FIELDS = {
    "Pass": {"Type", "Comment", "QueryLanguage", "Output", "Next"},
    "Choice": {"Type", "Comment", "QueryLanguage", "Choices", "Default"},
    "Fail": {"Type", "Comment", "QueryLanguage", "Error", "Cause"},
}
TOP_LEVEL = {"Comment", "StartAt", "States", "TimeoutSeconds"}
DEFAULTS_STATE = "Apply defaults"
HINT = "the local runner covers what `smtrain pipeline export` writes; export the definition again"


def refuse(where: str, what: str) -> UsageError:
    return UsageError(what, where=where, hint=HINT)


def check_definition(definition: Any, *, where: str) -> None:
    if not isinstance(definition, dict) or not isinstance(definition.get("States"), dict):
        raise refuse(where, "not a state machine definition (no States)")
    unknown = set(definition) - TOP_LEVEL
    if unknown:
        raise refuse(where, f"unsupported top-level field(s): {', '.join(sorted(unknown))}")
    states = definition["States"]
    if definition.get("StartAt") not in states:
        raise refuse(where, f"StartAt {definition.get('StartAt')!r} is not a state")
    for name, state in states.items():
        check_state(name, state, states, where=f"{where}: state {name!r}")


def check_state(name: str, state: dict[str, Any], states: dict[str, Any], *, where: str) -> None:
    kind = state.get("Type")
    if kind not in FIELDS:
        raise refuse(where, f"state type {kind!r} is not supported (supported: {', '.join(FIELDS)})")
    jsonata = state.get("QueryLanguage") == "JSONata"
    if "QueryLanguage" in state and (not jsonata or kind not in JSONATA_FIELDS):
        raise refuse(where, f"QueryLanguage {state['QueryLanguage']!r} is not supported on a {kind} state")
    fields = JSONATA_FIELDS[str(kind)] if jsonata else FIELDS[kind]
    extra = set(state) - fields
    if extra:
        raise refuse(where, f"field(s) {', '.join(sorted(extra))} not supported on a {kind} state")
    if jsonata:
        check_expressions(state, where=where)
    if kind == "Task" and not RESOURCE.fullmatch(str(state.get("Resource"))):
        raise refuse(where, f"resource {state.get('Resource')!r} is not a SageMaker integration the runner covers")
    targets = [state.get("Next"), state.get("Default")] + [c["Next"] for c in state.get("Catch", [])]
    if kind == "Choice":
        for rule in state.get("Choices", []):
            targets.append(rule.get("Next"))
            check_rule(rule, where=where)
    for target in targets:
        if target is not None and target not in states:
            raise refuse(where, f"goes to {target!r}, which is not a state")
    check_intrinsics(state, where=where)


def check_intrinsics(state: dict[str, Any], *, where: str) -> None:
    for text in strings(state):
        for function in re.findall(r"States\.[A-Za-z]+(?=\()", text):
            if function not in FUNCTIONS:
                raise refuse(where, f"intrinsic function {function} is not supported")


def check_expressions(state: dict[str, Any], *, where: str) -> None:
    """Every ``{% %}`` must parse; a Choice rule of a JSONata state is a Condition and a Next."""
    from .expressions import compiled, expressions_in
    from .paths import StatesError

    for rule in state.get("Choices", []):
        if set(rule) != {"Condition", "Next"}:
            raise refuse(where, "a JSONata Choice rule has exactly a Condition and a Next")
    for text in expressions_in(state):
        try:
            compiled(text)
        except StatesError as exc:
            raise refuse(where, exc.cause) from exc


def check_rule(rule: dict[str, Any], *, where: str) -> None:
    if "Condition" in rule:
        return  # checked with the state's other JSONata
    for combinator in ("And", "Or"):
        for inner in rule.get(combinator, []):
            check_rule(inner, where=where)
    if "Not" in rule:
        check_rule(rule["Not"], where=where)
    keys = set(rule) - {"Variable", "Next", "And", "Or", "Not"}
    if keys - OPERATORS:
        raise refuse(where, f"Choice operator(s) {', '.join(sorted(keys - OPERATORS))} not supported")


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def check_input(definition: dict[str, Any], execution_input: Any) -> None:
    """The input must have the shape of the exported defaults: known keys, the same JSON types."""
    defaults = definition["States"].get(DEFAULTS_STATE, {}).get("Parameters", {}).get("defaults")
    if defaults is None:
        return
    check_shape(execution_input, defaults, "input")


def check_shape(value: Any, defaults: dict[str, Any], where: str) -> None:
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a JSON object", where="execution input",
                         hint=f"keys accepted: {', '.join(defaults)}")
    for key, given in value.items():
        if key not in defaults:
            raise UsageError(f"unknown key {key!r} in {where}", where="execution input",
                             hint=f"accepted: {', '.join(defaults) or 'none'}")
        expected = defaults[key]
        label = f"{where}.{key}" if where != "input" else key
        if isinstance(expected, dict):
            if key == "hyperparameters":
                check_hyperparameters(given, label)
            else:
                check_shape(given, expected, label)
        elif not same_type(given, expected):
            raise UsageError(f"{label} must be {type_name(expected)}, got {given!r}", where="execution input",
                             hint=f"e.g. {label}: {expected!r} (the exported default)")


def check_hyperparameters(given: Any, label: str) -> None:
    """Plain JSON values, as `smtrain fit` takes them; the definition JSON-encodes each as the SDK does."""
    if not isinstance(given, dict) or any(v is None for v in given.values()):
        raise UsageError(f"{label} must be a JSON object of values (no nulls)", where="execution input",
                         hint='e.g. {"C": 0.5, "kernel": "rbf", "max_leaf_nodes": 31}')
    reserved = [k for k in given if k.startswith("sagemaker_")]
    if reserved:
        raise UsageError(f"{label}.{reserved[0]} is set by the pipeline", where="execution input",
                         hint="give only your script's hyperparameters")


def same_type(given: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(given, bool):
        return type(given) is type(expected)
    if isinstance(expected, int):
        return isinstance(given, int)
    if isinstance(expected, float):
        return isinstance(given, int | float)
    return isinstance(given, type(expected))


def type_name(expected: Any) -> str:
    if isinstance(expected, bool):
        return "true or false"
    if isinstance(expected, int):
        return "a whole number"
    if isinstance(expected, float):
        return "a number"
    return "a string"

"""Refuse, before anything runs, a definition the runner does not cover or an input the pipeline does not take."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

from smtrain.core.errors import UsageError
from smtrain.planning.kinds import KINDS, by_sync_resource

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
# The optimized SageMaker integration's operations (the runner waits on each job kind's .sync):
# https://docs.aws.amazon.com/step-functions/latest/dg/connect-sagemaker.html
OPTIMIZED = {"createEndpoint", "createEndpointConfig", "createHyperParameterTuningJob", "createLabelingJob",
             "createModel", "createProcessingJob", "createTrainingJob", "createTransformJob", "updateEndpoint"}
# The AWS SDK integration that reads an object: its Body comes back as a string (Step Functions guide,
# "Call other AWS services": S3 GetObject returns the object's content as a string in Body).
GET_OBJECT = "arn:aws:states:::aws-sdk:s3:getObject"
OBJECT_RESOURCES = (GET_OBJECT,)
RESOURCE = re.compile(r"arn:aws:states:::(?P<sdk>aws-sdk:)?sagemaker:(?P<operation>[a-z][A-Za-z]*)(?P<sync>\.sync)?")
# The JSONata states the exporter emits (a state's QueryLanguage; the machine's stays JSONPath).
JSONATA_FIELDS = {
    "Pass": {"Type", "Comment", "QueryLanguage", "Output", "Next"},
    "Choice": {"Type", "Comment", "QueryLanguage", "Choices", "Default"},
    "Fail": {"Type", "Comment", "QueryLanguage", "Error", "Cause"},
}
TOP_LEVEL = {"Comment", "StartAt", "States", "TimeoutSeconds"}
RETRIER = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "Comment"}
CATCHER = {"ErrorEquals", "ResultPath", "Next", "Comment"}
DEFAULTS_STATE = "Apply defaults"
HINT = "the local runner covers what `smtrain pipeline export` writes; export the definition again"
# A limit of ours (Step Functions documents none): an exported definition is 8 levels deep, its input 3.
MAX_DEPTH = 32
MAX_SECONDS = 99999999  # Step Functions' largest TimeoutSeconds, IntervalSeconds, MaxAttempts and Wait
MAX_STATE_NAME = 80


def refuse(where: str, what: str) -> UsageError:
    return UsageError(what, where=where, hint=HINT)


def depth_of(value: Any) -> int:
    """How deeply ``value`` nests objects and arrays, without recursion (a hostile document may be 5,000 deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (JSON has no NaN or Infinity)")


def finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is too large for a JSON number")
    return value


def strict_json(text: str, *, where: str, what: str, hint: str, check_depth: bool = True) -> Any:
    """JSON as Step Functions reads it: no NaN/Infinity, no overflowing number, at most ``MAX_DEPTH`` deep.

    Without ``check_depth`` only what Python's parser cannot read (about 1,000 levels) is refused here;
    `check_definition` then names the state that nests too deeply.
    """
    try:
        value = json.loads(text, parse_constant=reject_constant, parse_float=finite_float)
    except RecursionError:
        value = None
        deep = True
    except ValueError as exc:
        raise UsageError(f"{what} is not JSON: {exc}", where=where, hint=hint) from exc
    else:
        deep = check_depth and depth_of(value) > MAX_DEPTH
    if deep:
        raise UsageError(f"{what} nests deeper than {MAX_DEPTH} levels", where=where,
                         hint=f"the runner reads JSON up to {MAX_DEPTH} levels deep")
    return value


def whole(value: Any, low: int, high: int = MAX_SECONDS) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check_definition(definition: Any, *, where: str) -> None:
    if not isinstance(definition, dict) or not isinstance(definition.get("States"), dict):
        raise refuse(where, "not a state machine definition (no States)")
    unknown = set(definition) - TOP_LEVEL
    if unknown:
        raise refuse(where, f"unsupported top-level field(s): {', '.join(sorted(unknown))}")
    if "TimeoutSeconds" in definition and not whole(definition["TimeoutSeconds"], 1):
        raise refuse(f"{where}: TimeoutSeconds", f"TimeoutSeconds must be a whole number from 1 to {MAX_SECONDS}, "
                                                 f"not {definition['TimeoutSeconds']!r}")
    states = definition["States"]
    if not isinstance(definition.get("StartAt"), str) or definition["StartAt"] not in states:
        raise refuse(where, f"StartAt {definition.get('StartAt')!r} is not a state")
    for name, state in states.items():
        if depth_of(state) > MAX_DEPTH - 2:
            raise refuse(f"{where}: state {name!r}", f"the state nests deeper than {MAX_DEPTH} levels")
        check_state(name, state, states, where=f"{where}: state {name!r}")


def check_state(name: str, state: Any, states: dict[str, Any], *, where: str) -> None:
    jsonata = check_fields(name, state, where=where)
    kind = state["Type"]
    if kind in ("Pass", "Task", "Wait") and not isinstance(state.get("Next"), str):
        raise refuse(where, f"field Next: {'missing' if 'Next' not in state else repr(state['Next'])}; "
                            f"a {kind} state must name the state that follows it")
    if jsonata:
        check_expressions(state, where=where)
    else:
        check_paths(state, where=where)
    if kind == "Task":
        check_resource(state.get("Resource"), where=where)
        check_retry(state.get("Retry", []), where=where)
        check_catch(state.get("Catch", []), where=where)
    if kind == "Wait":
        check_wait(state, where=where)
    targets = [state.get("Next"), state.get("Default")] + [c["Next"] for c in state.get("Catch", [])]
    if kind == "Choice":
        targets += check_choices(state.get("Choices"), jsonata=jsonata, where=where)
    for target in targets:
        if target is not None and (not isinstance(target, str) or target not in states):
            raise refuse(where, f"goes to {target!r}, which is not a state")
    check_intrinsics(state, where=where)


def check_fields(name: str, state: Any, *, where: str) -> bool:
    """An object of a supported Type with only that type's fields; whether it is a JSONata state."""
    if len(name) > MAX_STATE_NAME:
        raise refuse(where, f"a state name is at most {MAX_STATE_NAME} characters")
    if not isinstance(state, dict):
        raise refuse(where, f"the state is {type(state).__name__}, not an object with a Type")
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
    return jsonata


def check_choices(choices: Any, *, jsonata: bool, where: str) -> list[str]:
    """The rules' targets, each rule checked."""
    if not isinstance(choices, list) or not choices:
        raise refuse(where, "field Choices: a Choice state needs a non-empty list of rules")
    targets = []
    for index, rule in enumerate(choices):
        if not isinstance(rule, dict) or not isinstance(rule.get("Next"), str):
            raise refuse(where, f"field Choices[{index}]: a rule is an object with a Next")
        targets.append(rule["Next"])
        if not jsonata:
            check_rule(rule, where=f"{where}: Choices[{index}]")
    return targets


def check_resource(resource: Any, *, where: str) -> None:
    """An operation of SageMaker's API that the integration offers (``sagemaker:db`` or ``fooBar`` is none),
    or S3's getObject (how the gate reads an evaluation report)."""
    if resource in OBJECT_RESOURCES:
        return
    match = RESOURCE.fullmatch(resource) if isinstance(resource, str) else None
    if not match:
        raise refuse(f"{where}: Resource", f"resource {resource!r} is not a SageMaker integration the runner covers")
    operation = match["operation"]
    if match["sync"] and by_sync_resource(resource) is None:
        waits = ", ".join(kind.create[0].lower() + kind.create[1:] for kind in KINDS)
        raise refuse(f"{where}: Resource", f"{resource!r}: the runner waits (.sync) only on {waits}")
    known = OPTIMIZED if not match["sdk"] else api_operations()
    if operation not in known:
        kind = "the optimized SageMaker integration" if not match["sdk"] else "SageMaker's API"
        raise refuse(f"{where}: Resource", f"{operation!r} is not an operation of {kind}")


@lru_cache(maxsize=1)
def api_operations() -> frozenset[str]:
    """SageMaker's operations as aws-sdk integrations name them (createTrainingJob), from botocore's model."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(name[0].lower() + name[1:] for name in model.operation_names)


def check_retry(retriers: Any, *, where: str) -> None:
    if not isinstance(retriers, list):
        raise refuse(f"{where}: Retry", "field Retry: a list of retriers")
    for index, retrier in enumerate(retriers):
        field = f"{where}: Retry[{index}]"
        if not isinstance(retrier, dict) or set(retrier) - RETRIER:
            raise refuse(field, f"a retrier is an object of {', '.join(sorted(RETRIER))}")
        check_error_equals(retrier.get("ErrorEquals"), where=field)
        if "IntervalSeconds" in retrier and not whole(retrier["IntervalSeconds"], 1):
            raise refuse(field, f"IntervalSeconds must be a whole number from 1 to {MAX_SECONDS}")
        if "MaxAttempts" in retrier and not whole(retrier["MaxAttempts"], 0):
            raise refuse(field, f"MaxAttempts must be a whole number from 0 to {MAX_SECONDS}")
        rate = retrier.get("BackoffRate", 2.0)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 1.0 <= rate <= 1000:
            raise refuse(field, f"BackoffRate must be a number from 1.0 to 1000, not {rate!r}")


def check_catch(catchers: Any, *, where: str) -> None:
    if not isinstance(catchers, list):
        raise refuse(f"{where}: Catch", "field Catch: a list of catchers")
    for index, catcher in enumerate(catchers):
        field = f"{where}: Catch[{index}]"
        if not isinstance(catcher, dict) or set(catcher) - CATCHER or not isinstance(catcher.get("Next"), str):
            raise refuse(field, "a catcher is an object with ErrorEquals and Next (and ResultPath)")
        check_error_equals(catcher.get("ErrorEquals"), where=field)
        check_path(catcher.get("ResultPath"), field="ResultPath", where=field, reference=True)


def check_error_equals(errors: Any, *, where: str) -> None:
    if not isinstance(errors, list) or not errors or not all(isinstance(e, str) for e in errors):
        raise refuse(where, "field ErrorEquals: a non-empty list of error names")


def check_wait(state: dict[str, Any], *, where: str) -> None:
    """Exactly one of Seconds (a whole number of seconds, 0 or more) and SecondsPath."""
    if ("Seconds" in state) == ("SecondsPath" in state):
        raise refuse(where, "a Wait state has exactly one of Seconds and SecondsPath")
    if "Seconds" in state and not whole(state["Seconds"], 0):
        raise refuse(f"{where}: Seconds", f"field Seconds must be a whole number from 0 to {MAX_SECONDS}, "
                                          f"not {state['Seconds']!r}")


def check_path(path: Any, *, field: str, where: str, reference: bool = False) -> None:
    """A path Step Functions accepts; ``None`` (keep the input) is allowed for a ResultPath."""
    from .paths import path_problem

    if path is None and reference:
        return
    problem = path_problem(path, reference=reference)
    if problem:
        raise refuse(f"{where}: {field}", f"field {field}: {problem}")


def check_paths(state: dict[str, Any], *, where: str) -> None:
    if "ResultPath" in state:
        check_path(state["ResultPath"], field="ResultPath", where=where, reference=True)
    for field in ("SecondsPath", "ErrorPath", "CausePath"):
        if field in state:
            check_path(state[field], field=field, where=where)
    for field in ("Parameters", "ResultSelector"):
        if field in state:
            if not isinstance(state[field], dict):
                raise refuse(f"{where}: {field}", f"field {field} must be an object")
            check_template(state[field], field=field, where=where)
    for field in ("Error", "Cause", "Comment"):
        if field in state and not isinstance(state[field], str):
            raise refuse(f"{where}: {field}", f"field {field} must be a string")


def check_template(template: Any, *, field: str, where: str) -> None:
    """Every ``key.$`` holds a path or an intrinsic function whose paths are paths Step Functions accepts."""
    if isinstance(template, list):
        for item in template:
            check_template(item, field=field, where=where)
    if not isinstance(template, dict):
        return
    for key, value in template.items():
        if key.endswith(".$"):
            check_dynamic(value, field=f"{field}.{key}", where=where)
        else:
            check_template(value, field=field, where=where)


def check_dynamic(value: Any, *, field: str, where: str) -> None:
    from .paths import StatesError, tokenize

    if not isinstance(value, str) or not value.startswith(("$", "States.")):
        raise refuse(f"{where}: {field}", f"field {field}: {value!r} is neither a path nor an intrinsic function")
    if value.startswith("$"):
        check_path(value, field=field, where=where)
        return
    try:
        tokens = tokenize(value)
    except StatesError as exc:
        raise refuse(f"{where}: {field}", f"field {field}: {exc.cause}") from exc
    for kind, text in tokens:
        if kind == "path":
            check_path(text, field=field, where=where)


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


def nested_rules(rule: dict[str, Any], *, where: str) -> list[Any]:
    inner = [rule["Not"]] if "Not" in rule else []
    for combinator in ("And", "Or"):
        if combinator in rule:
            if not isinstance(rule[combinator], list) or not rule[combinator]:
                raise refuse(where, f"field {combinator}: a non-empty list of rules")
            inner += rule[combinator]
    return inner


def check_rule(rule: Any, *, where: str) -> None:
    if not isinstance(rule, dict):
        raise refuse(where, "a Choice rule is an object")
    if "Condition" in rule:
        return  # checked with the state's other JSONata
    for inner in nested_rules(rule, where=where):
        check_rule(inner, where=where)
    keys = set(rule) - {"Variable", "Next", "And", "Or", "Not", "Comment"}
    if keys - OPERATORS:
        raise refuse(where, f"Choice operator(s) {', '.join(sorted(keys - OPERATORS))} not supported")
    combined = {"And", "Or", "Not"} & set(rule)
    if len(keys) + len(combined) != 1:
        raise refuse(where, "a Choice rule has exactly one operator (or one of And, Or, Not)")
    if keys:
        check_path(rule.get("Variable"), field="Variable", where=where)
        operator = next(iter(keys))
        if operator.endswith("Path"):
            check_path(rule[operator], field=operator, where=where)


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

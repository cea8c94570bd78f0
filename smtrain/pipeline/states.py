"""Choice rules and error matching, for exactly the operators the exporter emits."""

from __future__ import annotations

import math
import re
from typing import Any

from .paths import StatesError, select


def string_matches(value: Any, pattern: Any) -> bool:
    """ASL's StringMatches: ``*`` matches any run of characters; ``\\*`` is a literal star."""
    if not isinstance(value, str) or not isinstance(pattern, str):
        return False
    pieces = re.split(r"(?<!\\)\*", pattern)
    regex = ".*".join(re.escape(piece.replace("\\*", "*")) for piece in pieces)
    return re.fullmatch(regex, value, re.DOTALL) is not None


COMPARISONS = {
    "StringEquals": lambda a, b: isinstance(a, str) and a == b,
    "StringMatches": string_matches,
    # Both sides finite numbers: a diverged metric (or champion's) never passes a gate.
    "NumericGreaterThanEquals": lambda a, b: is_number(a) and is_number(b) and a >= b,
    "NumericLessThanEquals": lambda a, b: is_number(a) and is_number(b) and a <= b,
    "BooleanEquals": lambda a, b: isinstance(a, bool) and a == b,
}
TYPE_TESTS = {
    "IsString": lambda v: isinstance(v, str),
    "IsNumeric": lambda v: is_number(v),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsNull": lambda v: v is None,
}
OPERATORS = {*COMPARISONS, *(f"{name}Path" for name in COMPARISONS if name != "StringMatches"), *TYPE_TESTS,
             "IsPresent"}


def is_number(value: Any) -> bool:
    """A JSON number: a non-finite float (a diverged metric) is not one, so a gate on it fails closed."""
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        (isinstance(value, int) or math.isfinite(value))


def choose(state: dict[str, Any], data: Any, context: dict[str, Any]) -> str:
    for rule in state.get("Choices", []):
        if evaluate(rule, data, context):
            return str(rule["Next"])
    if "Default" not in state:
        raise StatesError("States.NoChoiceMatched", "no Choice rule matched and there is no Default")
    return str(state["Default"])


def evaluate(rule: dict[str, Any], data: Any, context: dict[str, Any]) -> bool:
    if "Condition" in rule:
        return condition(rule["Condition"], data, context)
    if "And" in rule:
        return all(evaluate(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate(rule["Not"], data, context)
    operator = next(key for key in rule if key in OPERATORS)
    expected = rule[operator]
    if operator == "IsPresent":
        return present(rule["Variable"], data, context) == expected
    if not present(rule["Variable"], data, context):
        if operator in TYPE_TESTS:
            return False
        raise StatesError("States.Runtime", f"Choice: {rule['Variable']} is not in the state's input")
    value = select(rule["Variable"], data, context)
    if operator in TYPE_TESTS:
        return bool(TYPE_TESTS[operator](value)) == expected
    if operator.endswith("Path"):
        return bool(COMPARISONS[operator[:-4]](value, select(expected, data, context)))
    return bool(COMPARISONS[operator](value, expected))


def condition(text: str, data: Any, context: dict[str, Any]) -> bool:
    """A JSONata Choice rule: its Condition must evaluate to true or false."""
    from . import expressions

    value = expressions.evaluate(text, {"input": data, "context": context})
    if not isinstance(value, bool):
        raise StatesError("States.QueryEvaluationError", f"the Condition {text} gave {value!r}, not true or false")
    return value


def present(path: str, data: Any, context: dict[str, Any]) -> bool:
    try:
        select(path, data, context)
    except StatesError:
        return False
    return True


def matches(error_equals: list[str], error: str) -> bool:
    """``States.ALL`` matches everything; ``States.TaskFailed`` every Task error but a timeout."""
    if "States.ALL" in error_equals or error in error_equals:
        return True
    return "States.TaskFailed" in error_equals and error != "States.Timeout"

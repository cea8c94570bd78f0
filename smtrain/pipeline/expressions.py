"""JSONata in a state (``"QueryLanguage": "JSONata"``): ``{% %}`` strings evaluated by jsonata-python.

As in Step Functions, ``$states`` holds ``input`` and ``context``; an expression that
evaluates to nothing is a ``States.QueryEvaluationError``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .paths import StatesError


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


@lru_cache(maxsize=256)
def compiled(text: str) -> Any:
    import jsonata

    try:
        return jsonata.Jsonata(text[2:-2].strip())
    except Exception as exc:  # jsonata-python raises its own JException for any syntax error
        raise StatesError("States.QueryEvaluationError", f"cannot read the JSONata {text!r}: {exc}") from exc


def evaluate(text: str, states: dict[str, Any]) -> Any:
    import jsonata

    expression = compiled(text)
    # $now() and $millis() read the thread's *last constructed* expression's evaluation time; with compiled
    # expressions cached, that may be another one, evaluated minutes ago. Make it this one.
    jsonata.Jsonata.CURRENT.jsonata = expression
    try:
        value = expression.evaluate(None, {"states": states})
    except Exception as exc:
        raise StatesError("States.QueryEvaluationError", f"{text}: {exc}") from exc
    if value is None:
        raise StatesError("States.QueryEvaluationError", f"{text} evaluated to nothing")
    return value


def render(template: Any, states: dict[str, Any]) -> Any:
    """``Output``, ``Error``, ``Cause``: every ``{% %}`` string, however deep, is replaced by its value."""
    if is_expression(template):
        return evaluate(template, states)
    if isinstance(template, dict):
        return {key: render(value, states) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, states) for value in template]
    return template


def expressions_in(value: Any) -> list[str]:
    if is_expression(value):
        return [value]
    if isinstance(value, dict):
        return [e for v in value.values() for e in expressions_in(v)]
    if isinstance(value, list):
        return [e for v in value for e in expressions_in(v)]
    return []

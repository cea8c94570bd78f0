"""JSONata in a state (``"QueryLanguage": "JSONata"``): ``{% %}`` strings evaluated by jsonata-python.

As in Step Functions, ``$states`` holds ``input`` and ``context``; an expression that
evaluates to nothing is a ``States.QueryEvaluationError``.

Every evaluation is bounded (a hostile definition must not hang or exhaust the runner): it stops after
``TIMEOUT_MS`` or ``MAX_DEPTH`` nested evaluations (jsonata-python's own Timebox), and any value it
builds that could not fit in Step Functions' 256 KiB state payload (a list of more than
``MAX_ITEMS`` items, a string of more than ``MAX_CHARACTERS``) ends it as soon as it is built.
https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html (payload size)
"""

from __future__ import annotations

import threading
from typing import Any

from .paths import StatesError

TIMEOUT_MS = 2000
MAX_DEPTH = 100
PAYLOAD_LIMIT = 256 * 1024
MAX_CHARACTERS = PAYLOAD_LIMIT
MAX_ITEMS = PAYLOAD_LIMIT // 2  # each item of a JSON array takes at least two characters ("1,")
LOCAL = threading.local()  # compiled expressions, per thread: a Timebox binds its counters to the expression


class Limits:
    """A fresh time and depth budget for one evaluation, plus the size check on every value built."""

    def __init__(self, expression: Any) -> None:
        from jsonata.timebox import Timebox

        frame = expression.environment
        self.timebox = Timebox(frame, TIMEOUT_MS, MAX_DEPTH)
        exit_timebox = frame.lookup("__evaluate_exit")

        def on_exit(node: Any, data: Any, environment: Any, result: Any) -> None:
            exit_timebox(node, data, environment, result)
            too_big(result)

        frame.set_evaluate_exit_callback(on_exit)


def too_big(value: Any) -> None:
    if isinstance(value, str) and len(value) > MAX_CHARACTERS:
        raise StatesError("States.QueryEvaluationError",
                          f"a string of {len(value):,} characters is over the {PAYLOAD_LIMIT // 1024} KiB "
                          "payload limit")
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        raise StatesError("States.QueryEvaluationError",
                          f"an array of {len(value):,} items is over the {PAYLOAD_LIMIT // 1024} KiB payload limit")


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def compiled(text: str) -> Any:
    import jsonata

    cache: dict[str, Any] = LOCAL.__dict__.setdefault("compiled", {})
    if text not in cache:
        if len(cache) > 256:
            cache.clear()
        try:
            cache[text] = jsonata.Jsonata(text[2:-2].strip())
        except RecursionError as exc:
            raise StatesError("States.QueryEvaluationError", f"the JSONata {text[:80]!r} is nested too deeply") from exc
        except Exception as exc:  # jsonata-python raises its own JException for any syntax error
            raise StatesError("States.QueryEvaluationError", f"cannot read the JSONata {text!r}: {exc}") from exc
    return cache[text]


def evaluate(text: str, states: dict[str, Any]) -> Any:
    import jsonata

    expression = compiled(text)
    # $now() and $millis() read the thread's *last constructed* expression's evaluation time; with compiled
    # expressions cached, that may be another one, evaluated minutes ago. Make it this one.
    jsonata.Jsonata.CURRENT.jsonata = expression
    Limits(expression)
    try:
        value = expression.evaluate(None, {"states": states})
    except StatesError:
        raise
    except RecursionError as exc:
        raise StatesError("States.QueryEvaluationError", f"{text[:200]}: nested too deeply") from exc
    except Exception as exc:
        raise StatesError("States.QueryEvaluationError", f"{text[:200]}: {exc}") from exc
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

"""Filters, sorting and limits for lists of runs (``smtrain ls`` and ``Session.runs``)."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from smtrain.core.errors import UsageError
from smtrain.runs.record import Run

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, "<": operator.lt, "=": operator.eq,
}
_CONDITION = re.compile(r"^\s*([^<>=!\s]+)\s*(>=|<=|==|!=|>|<|=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Condition:
    """``accuracy>0.9``: a metric (or numeric hyperparameter) compared with a number."""

    name: str
    op: str
    value: float

    def holds(self, run: Run) -> bool:
        value = run.metrics.get(self.name)
        if value is None:
            value = _number(run.hyperparameters.get(self.name))
        return value is not None and self.holds_value(value)

    def holds_value(self, value: float) -> bool:
        """Never for NaN or an infinity: a gate on a metric that diverged fails closed."""
        return math.isfinite(value) and _OPERATORS[self.op](value, self.value)

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value:g}"


def parse_condition(text: str, where: str = "--where") -> Condition:
    match = _CONDITION.match(text)
    number = _number(match.group(3)) if match else None
    if not match or number is None:
        raise UsageError(f"cannot read condition {text!r}", where=where,
                         hint="write METRIC OP NUMBER, e.g. 'accuracy>0.9' (OP is one of > >= < <= == !=)")
    if not math.isfinite(number):
        raise UsageError(f"the threshold of {text!r} is not a finite number", where=where,
                         hint="compare with a finite number, e.g. 'loss<10'; a metric that is nan or inf "
                              "never satisfies a condition")
    return Condition(match.group(1), match.group(2), number)


def strings(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"a"`` -> ``("a",)``; a sequence as a tuple (Python API arguments take either)."""
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(value or ())


def parse_tag_filter(text: str) -> tuple[str, str | None]:
    key, sep, value = text.partition("=")
    if not key:
        raise UsageError(f"malformed --tag {text!r}", where="--tag", hint="write --tag KEY=VALUE or --tag KEY")
    return key, (value if sep else None)


def select(runs: Iterable[Run], *, statuses: Sequence[str] = (), tags: Sequence[str] = (),
           where: Sequence[str] = ()) -> list[Run]:
    """The runs with one of ``statuses``, every tag in ``tags`` and every condition in ``where``."""
    wanted = {s.lower() for s in statuses}
    tag_filters = [parse_tag_filter(t) for t in tags]
    conditions = [parse_condition(w) for w in where]
    return [run for run in runs
            if (not wanted or run.status.lower() in wanted)
            and all(_has_tag(run, key, value) for key, value in tag_filters)
            and all(c.holds(run) for c in conditions)]


def sort(runs: list[Run], key: str = "") -> list[Run]:
    """Newest first; or by a metric, ``accuracy`` (highest first) or ``loss:asc`` (lowest first).

    Runs without the metric go last, whatever the order.
    """
    if not key or key == "created":
        return sorted(runs, key=lambda r: r.created, reverse=True)
    name, _, order = key.rpartition(":")
    if order not in ("asc", "desc"):  # metric names may hold colons themselves (train:accuracy)
        name, order = key, ""
    present = [r for r in runs if _sort_value(r, name) is not None]
    absent = [r for r in runs if _sort_value(r, name) is None]
    present.sort(key=lambda r: _sort_value(r, name) or 0.0, reverse=order != "asc")
    return present + absent


def _sort_value(run: Run, name: str) -> float | None:
    """A NaN sorts with the runs that lack the metric (it has no order); infinities sort as they are."""
    value = run.metrics.get(name)
    value = value if value is not None else _number(run.hyperparameters.get(name))
    return None if value is None or math.isnan(value) else value


def _has_tag(run: Run, key: str, value: str | None) -> bool:
    return key in run.tags and (value is None or run.tags[key] == value)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None

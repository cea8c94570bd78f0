"""Metric values that are not finite numbers: how they are stored, read back and shown.

A training script that diverges logs ``loss=nan``; ``inf``, ``-inf`` and an
overflow such as ``1e999`` (read as ``inf``) come the same way. Python's
``json`` would write them as ``NaN``/``Infinity``, which is not JSON: SQLite's
JSON functions refuse it (the run index's trigger failed, and with it the job),
and so do ``jq``, browsers and MLflow's REST API. So, everywhere a metric travels:

- **stored** (``FinalMetricDataList`` in the store, ``metrics.jsonl``): ``"Value": null``
  with the text the log held under ``"Text"`` (``{"MetricName": "loss", "Value": null,
  "Text": "nan", ...}``). A value that is not a number at all (a hand-edited record)
  is read the same way;
- **in Python** (:attr:`smtrain.runs.record.Run.metrics`): ``float("nan")``, ``float("inf")``;
- **shown** (``ls``, ``show``, ``diff``, ``report``): ``nan``, ``inf``, ``-inf``, with a
  warning naming the run and the metric; in ``--json`` output ``null``, the shown text
  under ``non_finite_metrics``;
- **compared** (``--where``, ``report --gate``): a non-finite value never satisfies a
  condition, so a gate fails closed; a non-finite threshold is refused;
- **MLflow**: logged as the float (MLflow stores NaN and ±Infinity).

Standard library only: the job supervisor imports it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

NOT_FINITE = "not a finite number"


def parsed(text: str) -> dict[str, Any]:
    """The stored fields of a value read from a log line: ``{"Value": 0.5}`` or ``{"Value": None, "Text": "nan"}``.

    Raises ValueError when ``text`` is not a number at all (the line is then not a metric)."""
    value = float(text)
    return {"Value": value} if math.isfinite(value) else {"Value": None, "Text": text}


def value_of(entry: Mapping[str, Any]) -> float:
    """The float of a stored metric entry: its ``Value``, else its ``Text`` read as a float, else NaN."""
    value = entry.get("Value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = entry.get("Text", value)
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def by_name(entries: Any) -> dict[str, float]:
    """A ``FinalMetricDataList`` as ``{name: float}``; an entry without a name (a hand-edited record) is skipped,
    so one damaged run never breaks a listing of every run."""
    if not isinstance(entries, list):
        return {}
    return {str(entry["MetricName"]): value_of(entry) for entry in entries
            if isinstance(entry, Mapping) and entry.get("MetricName")}


def stored(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` as it is stored: a non-finite or non-numeric ``Value`` as null, its text kept."""
    value = value_of(entry)
    if math.isfinite(value):
        return {**entry, "Value": value}
    raw = entry.get("Value")
    text = entry.get("Text") or (raw if isinstance(raw, str) else shown(value))
    return {**entry, "Value": None, "Text": str(text)}


def finite(value: float) -> bool:
    return math.isfinite(value)


def shown(value: float) -> str:
    """``0.91``, ``nan``, ``inf``, ``-inf``."""
    return f"{value:g}"


def jsonable(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, so that it is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """Strict JSON: ``NaN`` and ``Infinity`` are never written (they become null)."""
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:
        return json.dumps(jsonable(value), allow_nan=False, **options)


def warning(run_name: str, metrics: Mapping[str, float]) -> str:
    """One line naming the run's non-finite metrics, or "" if it has none."""
    bad = [f"{name}={shown(value)}" for name, value in metrics.items() if not math.isfinite(value)]
    if not bad:
        return ""
    return (f"warning: run {run_name}: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} {NOT_FINITE} "
            "(stored as null; a gate on it fails)")

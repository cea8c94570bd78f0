"""Runs and metric history as pandas DataFrames, for notebooks (pandas is imported here only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smtrain.core.metric_values import value_of
from smtrain.runs.record import Run, parse_time


def runs_frame(runs: Sequence[Run]) -> Any:
    """One row per run; columns as ``mlflow.search_runs`` names them: ``params.C``, ``metrics.accuracy``..."""
    import pandas as pd

    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "run": run.name, "backend": run.backend, "status": run.status,
            "created": parse_time(run.created), "duration_s": run.duration_seconds(),
            "git_commit": run.git_commit, "git_dirty": run.git_dirty,
        }
        row.update({f"params.{k}": v for k, v in run.hyperparameters.items()})
        row.update({f"metrics.{k}": v for k, v in run.metrics.items()})
        row.update({f"tags.{k}": v for k, v in run.user_tags.items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["run", "backend", "status", "created", "duration_s",
                                                         "git_commit", "git_dirty"])


def history_frame(points: Sequence[dict[str, Any]]) -> Any:
    """Columns metric, step (0, 1, ... per metric), value, timestamp."""
    import pandas as pd

    steps: dict[str, int] = {}
    rows = []
    for point in points:
        name = point["MetricName"]
        rows.append({"metric": name, "step": steps.get(name, 0), "value": value_of(point),
                     "timestamp": parse_time(str(point["Timestamp"]))})
        steps[name] = steps.get(name, 0) + 1
    return pd.DataFrame(rows, columns=["metric", "step", "value", "timestamp"])

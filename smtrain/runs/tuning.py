"""A tuning job's trials as a table: ranked by the objective, for `show`, ``Tuner.results()`` and the notebook."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from smtrain.planning.spec import decode_hyperparameters


def objective_value(summary: Mapping[str, Any]) -> float | None:
    metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    return float(metric["Value"]) if "Value" in metric else None


def ranked(summaries: Sequence[Mapping[str, Any]], objective: Mapping[str, str]) -> list[Mapping[str, Any]]:
    """Trials with an objective value first, best first; then the rest by name."""
    sign = -1.0 if objective.get("Type", "Maximize") == "Maximize" else 1.0
    scored = [s for s in summaries if objective_value(s) is not None]
    others = [s for s in summaries if objective_value(s) is None]
    return (sorted(scored, key=lambda s: (sign * float(objective_value(s) or 0.0), s["TrainingJobName"]))
            + sorted(others, key=lambda s: s["TrainingJobName"]))


def trial_rows(summaries: Sequence[Mapping[str, Any]], objective: Mapping[str, str]) -> list[dict[str, Any]]:
    """One dict per trial, best first: job, status, <objective metric>, each tuned hyperparameter decoded."""
    name = objective.get("MetricName", "objective")
    rows = []
    for rank, summary in enumerate(ranked(summaries, objective), start=1):
        row: dict[str, Any] = {"rank": rank, "job": summary["TrainingJobName"],
                               "status": summary["TrainingJobStatus"], name: objective_value(summary)}
        row.update(decode_hyperparameters(summary.get("TunedHyperParameters") or {}))
        if summary.get("FailureReason"):
            row["failure"] = str(summary["FailureReason"]).splitlines()[0][:120]
        rows.append(row)
    return rows


def results_frame(summaries: Sequence[Mapping[str, Any]], objective: Mapping[str, str]) -> Any:
    import pandas as pd

    rows = trial_rows(summaries, objective)
    return pd.DataFrame(rows, columns=None if rows else ["rank", "job", "status", objective.get("MetricName")])

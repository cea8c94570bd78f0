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


BAR_WIDTH = 30


def objective_chart(summaries: Sequence[Mapping[str, Any]], metric: str) -> list[str]:
    """The objective by trial, in the order the trials were started: one bar per trial, scaled between
    the lowest and highest value (a trial without a value shows its status)."""
    trials = sorted(summaries, key=lambda s: s["TrainingJobName"])
    values = [v for v in (objective_value(s) for s in trials) if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 0.0)
    lines = [f"{metric} by trial"]
    for summary in trials:
        value = objective_value(summary)
        label = f"{trial_number(summary):03d}"
        if value is None:
            lines.append(f"  {label} {'':<{BAR_WIDTH}} {summary['TrainingJobStatus']}")
            continue
        width = BAR_WIDTH if high == low else 1 + round((value - low) / (high - low) * (BAR_WIDTH - 1))
        lines.append(f"  {label} {'█' * width:<{BAR_WIDTH}} {value:g}")
    return lines


def trial_number(summary: Mapping[str, Any]) -> int:
    """NNN of a trial named <tuning-job>-NNN-<8 hex>."""
    return int(summary["TrainingJobName"].rsplit("-", 2)[-2])


def plot_objective(description: Mapping[str, Any], summaries: Sequence[Mapping[str, Any]], path: Any) -> Any:
    """`show TUNING_JOB --plot PATH`: the objective by trial as a PNG, the best trial marked."""
    from smtrain.runs.charts import plot_trials

    metric = description["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"]
    points = sorted((trial_number(s), value) for s in summaries if (value := objective_value(s)) is not None)
    best = (description.get("BestTrainingJob") or {}).get("TrainingJobName")
    name = description["HyperParameterTuningJobName"]
    return plot_trials(points, trial_number({"TrainingJobName": best}) if best else None, path, metric=metric,
                       title=f"{name}: {metric} by trial")


def render_tuning(description: Mapping[str, Any], summaries: Sequence[Mapping[str, Any]]) -> str:
    """`smtrain show TUNING_JOB`: the job, its best trial, every trial ranked by the objective, and a chart."""
    from smtrain.execution.tuning import progress_line

    config = description["HyperParameterTuningJobConfig"]
    objective = config["HyperParameterTuningJobObjective"]
    limits = config["ResourceLimits"]
    best = description.get("BestTrainingJob") or {}
    lines = [
        f"{'tuning job':<12} {description['HyperParameterTuningJobName']}",
        f"{'status':<12} {progress_line(description)}",
        f"{'strategy':<12} {config['Strategy']}, {limits.get('MaxNumberOfTrainingJobs')} trials, "
        f"{limits['MaxParallelTrainingJobs']} at once",
        f"{'objective':<12} {objective['Type'].lower()} {objective['MetricName']}",
        f"{'best job':<12} " + (f"{best['TrainingJobName']} {dict(best.get('TunedHyperParameters', {}))}"
                                if best else "none yet"),
    ]
    if description.get("FailureReason"):
        lines.append(f"{'failure':<12} {description['FailureReason']}")
    rows = trial_rows(summaries, objective)
    if rows:
        columns = [c for c in rows[0] if c != "failure"] + (["failure"] if any("failure" in r for r in rows) else [])
        table = [[str("" if row.get(c) is None else row.get(c)) for c in columns] for row in rows]
        widths = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(columns)]
        lines.append("\ntrials, best first")
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in table]
        lines.append("")
        lines += objective_chart(summaries, objective["MetricName"])
    return "\n".join(lines)

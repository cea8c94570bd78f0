"""`smtrain ls`: a tuning job's trials beneath it, as the local store and SageMaker's Search list them;
`smtrain show TUNING_JOB`: the trials ranked by the objective, and the chart of the objective by trial."""

from __future__ import annotations

from typing import Any

from smtrain.runs.listing import grouped, tuning_of
from smtrain.runs.record import Run
from smtrain.runs.tuning import objective_chart, render_tuning, trial_rows


def run(name: str, kind: str = "training", backend: str = "local") -> Run:
    return Run(name=name, backend=backend, status="Completed", kind=kind)


def test_a_trial_is_named_for_its_tuning_job() -> None:
    assert tuning_of("tune-1-007-0123abcd") == "tune-1"
    assert tuning_of("penguins-2026-12-07-14-22-25-123") == ""  # a fit's default name is no trial
    assert tuning_of("tune-1-07-0123abcd") == tuning_of("tune-1-007-0123ABCD") == ""


def test_trials_come_right_beneath_their_tuning_job_wherever_they_were_listed() -> None:
    listed = [run("tune-1-002-0000000b"), run("plain"), run("tune-1", kind="tuning"), run("tune-1-001-0000000a")]
    assert [label for label, _ in grouped(listed)] == [
        "tune-1 (2 trials)", "  tune-1-002-0000000b", "  tune-1-001-0000000a", "plain"]
    assert [r.name for _, r in grouped(listed) if r is not None] == [
        "tune-1", "tune-1-002-0000000b", "tune-1-001-0000000a", "plain"]


def test_sagemaker_trials_without_their_tuning_job_get_a_row_naming_it() -> None:
    # SageMaker's Search lists training jobs: the tuning job itself is not among them.
    listed = [run("t-002-0000000b", backend="sagemaker"), run("t-001-0000000a", backend="sagemaker")]
    rows = grouped(listed)
    assert rows[0] == ("t (tuning job, 2 trials)", None)
    assert [label for label, _ in rows[1:]] == ["  t-002-0000000b", "  t-001-0000000a"]


def summary(number: int, status: str, value: float | None = None) -> dict[str, Any]:
    trial: dict[str, Any] = {"TrainingJobName": f"t-{number:03d}-0000000{number}", "TrainingJobStatus": status,
                             "TunedHyperParameters": {"C": str(number / 10)}}
    if value is not None:
        trial["FinalHyperParameterTuningJobObjectiveMetric"] = {"MetricName": "loss", "Value": value}
    return trial


TRIALS = [summary(1, "Completed", 0.5), summary(2, "Failed"), summary(3, "Completed", 0.2),
          summary(4, "Stopped", 0.9)]


def test_trials_are_ranked_by_the_objective_in_its_direction_then_those_without_a_value() -> None:
    minimized = trial_rows(TRIALS, {"MetricName": "loss", "Type": "Minimize"})
    assert [(r["rank"], r["job"][:5], r["loss"]) for r in minimized] == [
        (1, "t-003", 0.2), (2, "t-001", 0.5), (3, "t-004", 0.9), (4, "t-002", None)]
    assert minimized[0]["C"] == 0.3  # each tuned hyperparameter decoded, as the script got it
    maximized = trial_rows(TRIALS, {"MetricName": "loss", "Type": "Maximize"})
    assert [r["job"][:5] for r in maximized] == ["t-004", "t-001", "t-003", "t-002"]


def test_the_chart_has_one_bar_per_trial_in_trial_order_scaled_between_the_lowest_and_highest() -> None:
    title, *bars = objective_chart(TRIALS, "loss")
    assert title == "loss by trial"
    assert [bar.split()[0] for bar in bars] == ["001", "002", "003", "004"]
    widths = {bar.split()[0]: bar.count("█") for bar in bars}
    assert widths["003"] == 1 and widths["004"] == 30 and 1 < widths["001"] < 30 and widths["002"] == 0
    assert bars[1].endswith("Failed")  # a trial without a value shows its status


def test_show_names_the_best_job_and_each_trials_failure() -> None:
    description = {
        "HyperParameterTuningJobName": "t", "HyperParameterTuningJobStatus": "Completed",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random", "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            "HyperParameterTuningJobObjective": {"MetricName": "loss", "Type": "Minimize"}},
        "TrainingJobStatusCounters": {"Completed": 2, "InProgress": 0, "NonRetryableError": 1, "Stopped": 1},
        "BestTrainingJob": {**TRIALS[2], "TunedHyperParameters": {"C": "0.3"}},
    }
    failed = {**TRIALS[1], "FailureReason": "AlgorithmError: boom\nmore"}
    shown = render_tuning(description, [TRIALS[0], failed, TRIALS[2], TRIALS[3]])
    assert "best job     t-003-00000003 {'C': '0.3'}" in shown
    assert "objective    minimize loss" in shown and "Random, 4 trials, 2 at once" in shown
    ranked = shown.split("trials, best first\n")[1].split("\n\n")[0].splitlines()
    assert ranked[0].split() == ["rank", "job", "status", "loss", "C", "failure"]
    assert ranked[-1].split()[1:3] == ["t-002-00000002", "Failed"] and ranked[-1].endswith("AlgorithmError: boom")

"""`smtrain ls`: a tuning job's trials beneath it, as the local store and SageMaker's Search list them."""

from __future__ import annotations

from smtrain.runs.listing import grouped, tuning_of
from smtrain.runs.record import Run


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

"""Real tuning jobs on the local backend: the tuner process, its trials as real local training jobs.

A tiny script stands for the model: it prints ``score=<x>`` for its hyperparameter ``x`` (or fails
when told to), so each trial takes about as long as a training job's start-up.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from smtrain.api.session import Session
from smtrain.planning.validation import RequestInvalid, service_model
from tests.helpers import wait_until

SCRIPT = textwrap.dedent("""
    import argparse, os, sys, time
    parser = argparse.ArgumentParser()
    parser.add_argument("--level", type=float, default=0.0)
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    if args.mode == "fail" or (args.mode == "fail-high" and args.level > 5):
        sys.exit(f"refusing level={args.level}")
    if args.mode != "slow-high" or args.level > 5:
        time.sleep(args.sleep)
    print(f"score={-(args.level - 3) ** 2}")
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write(str(args.level))
""")


@pytest.fixture
def session(tmp_path: Path) -> Session:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(SCRIPT)
    return Session(quiet=True, home=str(tmp_path / ".smtrain"), framework_version="current")


def tune(session: Session, tmp_path: Path, **kwargs: Any) -> Any:
    arguments: dict[str, Any] = dict(source_dir=tmp_path / "src", ranges={"level": "continuous:0:10"},
                                     objective="score", metric_definitions={"score": "score=([-0-9.e]+)"},
                                     max_jobs=4, max_parallel=2, strategy="Random", random_seed=1)
    arguments.update(kwargs)
    return session.tune("train.py", **arguments)


def check_shape(operation: str, response: dict[str, Any]) -> None:
    """Every key of the response is one the API's output shape has (recursively for structures)."""
    def walk(shape: Any, value: Any, path: str) -> None:
        if shape.type_name == "structure":
            assert isinstance(value, dict), path
            unknown = set(value) - set(shape.members)
            assert not unknown, f"{path}: {unknown}"
            for key, item in value.items():
                walk(shape.members[key], item, f"{path}.{key}")
        elif shape.type_name == "list":
            for item in value:
                walk(shape.member, item, path + "[]")
    walk(service_model().operation_model(operation).output_shape, response, operation)


def test_a_tuning_job_runs_its_trials_and_answers_in_the_apis_shapes(session: Session, tmp_path: Path) -> None:
    tuner = tune(session, tmp_path, hyperparameters={"mode": "ok"})
    assert tuner.status == "Completed"
    description = tuner.description
    check_shape("DescribeHyperParameterTuningJob", description)
    assert description["TrainingJobStatusCounters"] == {"Completed": 4, "InProgress": 0, "RetryableError": 0,
                                                        "NonRetryableError": 0, "Stopped": 0}
    assert description["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 0}
    trials = session.trials(tuner.name)
    check_shape("ListTrainingJobsForHyperParameterTuningJob", {"TrainingJobSummaries": trials})
    assert len(trials) == 4
    for trial in trials:
        assert re.fullmatch(rf"{tuner.name}-00[1-4]-[0-9a-f]{{8}}", trial["TrainingJobName"])
        job = session.job(trial["TrainingJobName"])
        assert job.hyperparameters["mode"] == "ok"  # the static value reaches every trial
        assert job.description["TuningJobArn"] == description["HyperParameterTuningJobArn"]
        assert job.description["HyperParameters"]["level"] == trial["TunedHyperParameters"]["level"]
    best = max(trials, key=lambda t: t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert description["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"] == tuner.best_job.name
    frame = tuner.results()
    assert frame["job"].iloc[0] == best["TrainingJobName"] and len(frame) == 4
    assert {"status", "score", "level"} <= set(frame.columns)
    # Random with a seed is exact: the same seed draws the same values.
    again = tune(session, tmp_path, hyperparameters={"mode": "ok"}, max_jobs=4, max_parallel=1, job_name="again")
    values = sorted(t["TunedHyperParameters"]["level"] for t in session.trials(again.name))
    assert values == sorted(t["TunedHyperParameters"]["level"] for t in trials)


def most_at_once(trials: list[dict[str, Any]]) -> int:
    """The most trials that existed at one moment, from each one's CreationTime to its TrainingEndTime."""
    events = sorted([(t["CreationTime"], 1) for t in trials] + [(t["TrainingEndTime"], -1) for t in trials],
                    key=lambda event: (event[0], event[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_trials_at_once_are_bounded_by_max_parallel_and_the_cores_unless_told(
        session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("SMTRAIN_LOCAL_TRIALS", raising=False)
    bounded = tune(session, tmp_path, hyperparameters={"sleep": 1.5}, max_jobs=3, max_parallel=3, job_name="cores")
    assert bounded.status == "Completed"
    assert most_at_once(session.trials(bounded.name)) <= min(3, os.cpu_count() or 1)
    monkeypatch.setenv("SMTRAIN_LOCAL_TRIALS", "3")  # told: more than the cores, never more than max_parallel
    told = tune(session, tmp_path, hyperparameters={"sleep": 1.5}, max_jobs=4, max_parallel=3, job_name="told")
    assert told.status == "Completed" and most_at_once(session.trials(told.name)) == 3


def test_a_failing_trial_counts_as_failed_and_the_tuner_goes_on(session: Session, tmp_path: Path) -> None:
    tuner = tune(session, tmp_path, ranges={"level": "categorical:1,2,9"}, strategy="Grid",
                 hyperparameters={"mode": "fail-high"}, max_jobs=None)
    assert tuner.status == "Completed"
    counters = tuner.description["TrainingJobStatusCounters"]
    assert counters["Completed"] == 2 and counters["NonRetryableError"] == 1
    assert tuner.description["ObjectiveStatusCounters"]["Failed"] == 1
    assert tuner.best_job.hyperparameters["level"] == "2"


def test_a_tuner_whose_trials_all_fail_fails_with_the_first_reason(session: Session, tmp_path: Path) -> None:
    tuner = tune(session, tmp_path, hyperparameters={"mode": "fail"}, max_jobs=10, max_parallel=1)
    assert tuner.status == "Failed"
    trials = sorted(session.trials(tuner.name), key=lambda t: t["TrainingJobName"])
    assert len(trials) == 5  # it stops once its first trials all failed, not after all 10
    assert {t["TrainingJobStatus"] for t in trials} == {"Failed"}
    assert tuner.failure_reason.startswith("All 5 training jobs failed. First failure: AlgorithmError")
    first = session.job(trials[0]["TrainingJobName"]).hyperparameters["level"]
    assert f"refusing level={float(first)}" in tuner.failure_reason  # the first trial's own reason


def test_stopping_stops_every_running_trial_and_keeps_the_completed(session: Session, tmp_path: Path) -> None:
    tuner = tune(session, tmp_path, hyperparameters={"mode": "ok", "sleep": 30}, max_jobs=6, wait=False)

    def running() -> int:
        counters = session.tuner(tuner.name).description["TrainingJobStatusCounters"]
        return int(counters["InProgress"])

    assert wait_until(lambda: running() == 2, timeout=60)
    session.stop(tuner.name)
    assert wait_until(lambda: session.tuner(tuner.name).status == "Stopped", timeout=60)
    stopped = session.tuner(tuner.name).description
    trials = [(t["TrainingJobName"], t["TrainingJobStatus"], t.get("FailureReason", "")[:300])
              for t in session.trials(tuner.name)]
    assert stopped["TrainingJobStatusCounters"]["InProgress"] == 0, trials
    assert stopped["TrainingJobStatusCounters"]["Stopped"] == 2, trials
    assert all(t["TrainingJobStatus"] == "Stopped" for t in session.trials(tuner.name))


def test_a_stop_keeps_the_completed_trials_and_the_best_of_them(session: Session, tmp_path: Path) -> None:
    tuner = tune(session, tmp_path, ranges={"level": "categorical:1,8,9"}, strategy="Grid", max_jobs=None,
                 hyperparameters={"mode": "slow-high", "sleep": 30}, wait=False)  # level 1 ends at once

    def one_done_two_running() -> bool:
        counters = session.tuner(tuner.name).description["TrainingJobStatusCounters"]
        return counters["Completed"] == 1 and counters["InProgress"] == 2

    assert wait_until(one_done_two_running, timeout=60)
    session.stop(tuner.name)
    assert wait_until(lambda: session.tuner(tuner.name).status == "Stopped", timeout=60)
    stopped = session.tuner(tuner.name)
    counters = stopped.description["TrainingJobStatusCounters"]
    assert (counters["Completed"], counters["Stopped"], counters["InProgress"]) == (1, 2, 0)
    assert stopped.description["ObjectiveStatusCounters"]["Succeeded"] == 1
    statuses = {t["TunedHyperParameters"]["level"]: t["TrainingJobStatus"] for t in session.trials(tuner.name)}
    assert statuses == {'"1"': "Completed", '"8"': "Stopped", '"9"': "Stopped"}
    assert stopped.best_job.hyperparameters["level"] == "1" and stopped.best_job.status == "Completed"
    assert stopped.results()["status"].tolist().count("Completed") == 1


def test_bad_input_is_refused_before_anything_runs(session: Session, tmp_path: Path) -> None:
    from smtrain.core.errors import UsageError

    with pytest.raises(UsageError, match="not among the metric definitions"):
        tune(session, tmp_path, objective="loss")
    assert not (tmp_path / ".smtrain" / "tuning-jobs").exists()
    assert RequestInvalid  # the request checks are botocore's model, as for every other request


EPOCHS = textwrap.dedent("""
    import argparse, os, time
    parser = argparse.ArgumentParser()
    parser.add_argument("--level", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    for epoch in range(args.epochs):
        print(f"score={args.level + epoch / 100}", flush=True)
        time.sleep(0.4)
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write(str(args.level))
""")


def test_auto_early_stopping_stops_a_trial_that_falls_behind(session: Session, tmp_path: Path) -> None:
    (tmp_path / "src" / "train.py").write_text(EPOCHS)
    tuner = tune(session, tmp_path, ranges={"level": "categorical:5,6,7,1"}, strategy="Grid", max_jobs=None,
                 max_parallel=1, early_stopping="Auto")
    statuses = {t["TunedHyperParameters"]["level"]: t["TrainingJobStatus"] for t in session.trials(tuner.name)}
    assert statuses == {'"5"': "Completed", '"6"': "Completed", '"7"': "Completed", '"1"': "Stopped"}
    assert tuner.status == "Completed"
    assert tuner.best_job.hyperparameters["level"] == "7"


def test_hyperband_stops_trials_that_fall_behind_their_bracket(session: Session, tmp_path: Path) -> None:
    (tmp_path / "src" / "train.py").write_text(EPOCHS)
    tuner = tune(session, tmp_path, ranges={"level": "categorical:5,6,7,1"}, strategy="Hyperband", max_jobs=6,
                 max_parallel=1, hyperparameters={"epochs": 6}, random_seed=2)
    trials = session.trials(tuner.name)
    statuses = [t["TrainingJobStatus"] for t in trials]
    assert tuner.status == "Completed" and len(trials) == 6
    assert "Stopped" in statuses and "Completed" in statuses
    log = (tmp_path / ".smtrain" / "tuning-jobs" / tuner.name / "job.log").read_text()
    stopped = [t["TunedHyperParameters"]["level"] for t in trials if t["TrainingJobStatus"] == "Stopped"]
    assert log.count("Hyperband stops it at step") == len(stopped)
    assert '"7"' not in stopped  # the best level is never behind its bracket
    best = tuner.best_job.hyperparameters["level"]
    completed = [t["TunedHyperParameters"]["level"] for t in trials if t["TrainingJobStatus"] == "Completed"]
    assert best == max(completed, key=lambda v: int(v.strip('"'))).strip('"')


def test_a_warm_start_seeds_the_search_with_the_parents_trials(session: Session, tmp_path: Path) -> None:
    parent = tune(session, tmp_path, hyperparameters={"mode": "ok"}, max_jobs=3, job_name="parent-tune")
    child = tune(session, tmp_path, hyperparameters={"mode": "ok"}, strategy="Bayesian", max_jobs=2,
                 warm_start=parent.name, job_name="child-tune")
    assert child.status == "Completed"
    assert child.description["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent-tune"}],
        "WarmStartType": "IdenticalDataAndAlgorithm"}
    log = (tmp_path / ".smtrain" / "tuning-jobs" / "child-tune" / "job.log").read_text()
    assert "warm start: 3 completed trials of the parent tuning jobs seed the search" in log
    from smtrain.core.errors import NotFoundError
    from smtrain.execution.executor import execute

    # sm.tune asks first (test_the_python_api_names_its_arguments_in_errors); the API itself refuses too.
    spec = session.tuning_spec("train.py", source_dir=tmp_path / "src", ranges={"level": "continuous:0:10"},
                               objective="score", metric_definitions={"score": "score=([-0-9.e]+)"},
                               warm_start="nope", job_name="orphan-tune")
    with pytest.raises(NotFoundError, match="Could not find parent hyper parameter tuning job 'nope'"):
        execute(session.plan_tune(spec), session.backend, session.reporter, wait=False)
    with pytest.raises(NotFoundError):  # refused before it was recorded: its name is free again
        session.tuner("orphan-tune")


def test_the_python_api_names_its_arguments_in_errors(session: Session, tmp_path: Path) -> None:
    from smtrain.core.errors import ArgumentError

    with pytest.raises(ArgumentError, match="LOW") as caught:
        tune(session, tmp_path, ranges={"level": "continuous:5:1"})
    assert "--range" not in str(caught.value) and "ranges" in str(caught.value)
    with pytest.raises(ArgumentError) as caught:
        tune(session, tmp_path, max_parallel=101)
    assert caught.value.argument == "max_parallel" and "--max-parallel" not in str(caught.value)
    for arguments, argument, says in [
        (dict(ranges={"level": "continuous:0:1:log"}), "ranges", "logarithmic scaling needs LOW > 0"),
        (dict(objective="loss"), "objective", "'loss' is not among the metric definitions"),
        (dict(hyperparameters={"level": 1}), "ranges", "both searched (ranges=) and fixed (hyperparameters=)"),
        (dict(strategy="Grid"), "ranges", "Grid search cannot search the continuous range 'level'"),
        (dict(max_jobs=751, strategy="Bayesian"), "max_jobs", "runs 1 to 750"),
        (dict(max_jobs=10001), "max_jobs", "runs 1 to 10000"),
        (dict(warm_start="no-such-parent"), "warm_start", "no tuning job 'no-such-parent' to warm-start from"),
        (dict(ranges={f"p{i}": "integer:0:3" for i in range(31)}), "ranges", "at most 30 hyperparameters"),
        (dict(ranges={"s": "categorical:" + ",".join(f"v{i}" for i in range(31))}), "ranges", "at most 30 values"),
    ]:
        with pytest.raises(ArgumentError) as caught:
            tune(session, tmp_path, **arguments)
        assert caught.value.argument == argument and says in str(caught.value), str(caught.value)
        assert "--" not in str(caught.value)  # the Python API names its own arguments, not the CLI's flags
    assert not (tmp_path / ".smtrain" / "tuning-jobs").exists()

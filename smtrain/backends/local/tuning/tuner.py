"""The local tuner: one detached process per tuning job, as a training job has its supervisor.

    python -m smtrain.backends.local.tuning.tuner HOME TUNING_JOB_NAME

It asks the search (``search.py``) for each trial's values, creates the trial through the same
CreateTrainingJob request a SageMaker trial gets (``operations.trial_request``), named as SageMaker
names trials, ``<tuning-job>-NNN-<8 hex>``, and keeps at most MaxParallelTrainingJobs running (never
more than this machine's cores unless SMTRAIN_LOCAL_TRIALS says how many). A failed trial counts as
failed and the search goes on; if the first trials all fail the tuning job fails with the first
one's reason. SIGTERM (StopHyperParameterTuningJob, Ctrl-C) stops every running trial and leaves
the tuning job Stopped, its completed trials kept.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smtrain.backends.local.jobs import job_state
from smtrain.backends.local.store.home import LocalHome
from smtrain.planning.kinds import TRAINING, TUNING

POLL_SECONDS = 0.1
STOP_WAIT_SECONDS = 30.0
FAIL_FAST_TRIALS = 5  # when this many trials (or all, if fewer) have ended and every one failed, stop
LOCAL_TRIALS_VARIABLE = "SMTRAIN_LOCAL_TRIALS"


class Stop(Exception):
    """SIGTERM arrived."""


def trials_at_once(limit: int) -> int:
    """MaxParallelTrainingJobs, but no more than the cores here unless SMTRAIN_LOCAL_TRIALS is set."""
    told = os.environ.get(LOCAL_TRIALS_VARIABLE, "")
    if told.strip().isdigit() and int(told) > 0:
        return min(limit, int(told))
    return max(1, min(limit, os.cpu_count() or 1))


def trial_name(tuning_job: str, number: int) -> str:
    return f"{tuning_job}-{number:03d}-{uuid.uuid4().hex[:8]}"


@dataclass
class Progress:
    """The trials so far: launched, running (name -> number), and how the ended ones ended."""

    total: int
    launched: int = 0
    completed: int = 0
    failed: int = 0
    finished: int = 0
    first_failure: str = ""
    running: dict[str, int] = field(default_factory=dict)
    ended_trials: list[str] = field(default_factory=list)
    early_stopped: set[str] = field(default_factory=set)

    def ended(self, status: str, reason: str) -> None:
        self.finished += 1
        if status == "Completed":
            self.completed += 1
        elif status == "Failed":
            self.failed += 1
            self.first_failure = self.first_failure or reason

    def failing(self) -> bool:
        """The first trials to end all failed: launching more would fail the same way."""
        return not self.completed and self.failed == self.finished >= min(self.total, FAIL_FAST_TRIALS)

    def outcome(self) -> tuple[str, str] | None:
        """The tuning job's final status and reason once nothing runs and nothing more will start."""
        if self.running or (self.launched < self.total and not self.failing()):
            return None
        if self.completed:
            return "Completed", ""
        if self.failed:
            return "Failed", f"All {self.failed} training jobs failed. First failure: {self.first_failure}"
        return "Failed", "No training job completed"


class Tuner:
    def __init__(self, home: LocalHome, name: str) -> None:
        from smtrain.backends.local.service import LocalSageMaker

        self.home, self.name = home, name
        self.service = LocalSageMaker(home)
        self.table = self.service.jobs(TUNING)
        self.body = self.table.get(TUNING.describe, name)
        self.config = self.body["HyperParameterTuningJobConfig"]
        self.objective = self.config["HyperParameterTuningJobObjective"]
        self.stopping = False

    def run(self) -> int:
        from smtrain.backends.local.jobs.sandbox import share_probe

        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, self._on_sigterm)
        share_probe()  # every trial's supervisor would probe the same kernel again
        try:
            self._search()
        except Stop:
            self._stop_trials()
            self._finish("Stopped", "")
            return 0
        except Exception as exc:  # the tuner's own failure ends the job with its reason, never silently
            self._stop_trials()
            self._finish("Failed", f"InternalServerError: the local tuner failed: {type(exc).__name__}: {exc}")
            raise
        return 0

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        if not self.stopping:
            self.stopping = True
            self.table.update(self.name, lambda b: job_state.local(b).update(stop_acknowledged=True))
            raise Stop

    def _say(self, message: str) -> None:
        print(f"{job_state.now_iso()} {message}", flush=True)

    # -- the search --------------------------------------------------------------------------------
    def _search(self) -> None:
        from smtrain.backends.local.tuning.search import search_for

        limits = self.config["ResourceLimits"]
        progress = Progress(total=int(limits.get("MaxNumberOfTrainingJobs") or 1))
        parallel = trials_at_once(int(limits["MaxParallelTrainingJobs"]))
        deadline = time.monotonic() + float(limits.get("MaxRuntimeInSeconds") or 1e12)
        history = self._warm_start_history()
        if self.body.get("WarmStartConfig"):
            self._say(f"warm start: {len(history)} completed trials of the parent tuning jobs"
                      + (" seed the search" if self.config["Strategy"] == "Bayesian" else
                         f" (the {self.config['Strategy']} search does not learn from them)"))
        static = self.body["TrainingJobDefinition"].get("StaticHyperParameters", {})
        search = search_for(self.config, history, static)
        self._say(f"tuning job {self.name}: {self.config['Strategy']} search, {progress.total} trials, "
                  f"{parallel} at once")
        while True:
            self._collect(search, progress)
            if time.monotonic() >= deadline:
                self._stop_trials(progress.running)
                progress.running.clear()
                progress.total = progress.launched
            else:
                self._launch(search, progress, parallel)
            outcome = progress.outcome()
            if outcome is not None:
                self._finish(*outcome)
                return
            time.sleep(POLL_SECONDS)

    def _stop_laggards(self, search: Any, progress: Progress) -> None:
        """Stop each running trial that falls behind: by Hyperband's pruner, or by Auto early stopping's
        median rule (``early_stopping.py``)."""
        hyperband = self.config["Strategy"] == "Hyperband"
        if not hyperband and self.config.get("TrainingJobEarlyStoppingType") != "Auto":
            return
        for trial, why in (self._pruned(search, progress) if hyperband else self._behind_median(progress)):
            progress.early_stopped.add(trial)
            self._say(f"trial {trial}: {why}; stopping it")
            try:
                self.service.stop_training_job(TrainingJobName=trial)
            except Exception as exc:  # it may have ended meanwhile
                self._say(f"trial {trial}: could not be stopped: {exc}")

    def _objective_values(self, trial: str) -> list[float]:
        from smtrain.backends.local.store.reader import history_file
        from smtrain.backends.local.tuning.early_stopping import objective_values

        return objective_values(history_file(self.home.root, trial), self.objective["MetricName"])

    def _running_unjudged(self, progress: Progress) -> list[tuple[str, int]]:
        return [(trial, number) for trial, number in progress.running.items() if trial not in progress.early_stopped]

    def _pruned(self, search: Any, progress: Progress) -> list[tuple[str, str]]:
        metric = self.objective["MetricName"]
        return [(trial, f"Hyperband stops it at step {len(values)} of its {metric}")
                for trial, number in self._running_unjudged(progress)
                if search.report(number, values := self._objective_values(trial))]

    def _behind_median(self, progress: Progress) -> list[tuple[str, str]]:
        from smtrain.backends.local.tuning.early_stopping import falls_behind

        metric, maximize = self.objective["MetricName"], self.objective["Type"] == "Maximize"
        earlier = [self._objective_values(name) for name in progress.ended_trials]
        return [(trial, f"its {metric} fell behind the median of earlier trials")
                for trial, _ in self._running_unjudged(progress)
                if falls_behind(self._objective_values(trial), earlier, maximize=maximize)]

    def _collect(self, search: Any, progress: Progress) -> None:
        """Tell the search each trial that ended, and count it."""
        self._stop_laggards(search, progress)
        for trial, number in list(progress.running.items()):
            record = self.service.describe_training_job(TrainingJobName=trial)
            status = record["TrainingJobStatus"]
            if status not in job_state.TERMINAL:
                continue
            del progress.running[trial]
            progress.ended_trials.append(trial)
            value = self._objective_value(record)
            if trial in progress.early_stopped and hasattr(search, "report"):
                search.tell(number, value, stopped_early=True)
            else:
                search.tell(number, value)
            progress.ended(status, str(record.get("FailureReason", "")))
            self._say(f"trial {trial}: {status}"
                      + (f", {self.objective['MetricName']} = {value:g}" if value is not None else ""))

    def _launch(self, search: Any, progress: Progress, parallel: int) -> None:
        while len(progress.running) < parallel and progress.launched < progress.total and not progress.failing():
            number = progress.launched + 1
            values = search.suggest(number)
            if values is None:  # a grid smaller than MaxNumberOfTrainingJobs: it is done
                progress.total = progress.launched
                return
            progress.running[self._start_trial(number, values)] = number
            progress.launched += 1

    def _objective_value(self, record: dict[str, Any]) -> float | None:
        if record["TrainingJobStatus"] != "Completed":
            return None
        for metric in record.get("FinalMetricDataList") or []:
            if metric["MetricName"] == self.objective["MetricName"]:
                return float(metric["Value"])
        return None

    def _start_trial(self, number: int, values: dict[str, str]) -> str:
        from smtrain.backends.local.tuning.operations import trial_request

        name = trial_name(self.name, number)
        # Recorded first: a trial the tuner started is always one of its trials, even if it dies now.
        self.table.update(self.name, lambda b: job_state.local(b).setdefault("trials", []).append(
            {"name": name, "tuned": values}))
        self.service.create_training_job(**trial_request(self.body, name, values))
        self.service.jobs(TRAINING).update(
            name, lambda b: b.update(TuningJobArn=self.body["HyperParameterTuningJobArn"]))
        self._say(f"trial {name}: started with {values}")
        return name

    def _warm_start_history(self) -> list[tuple[dict[str, str], float]]:
        """The parents' completed trials and objective values (IdenticalDataAndAlgorithm)."""
        history: list[tuple[dict[str, str], float]] = []
        for parent in (self.body.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs", []):
            listing = self.service.list_training_jobs_for_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=parent["HyperParameterTuningJobName"], MaxResults=100,
                SortBy="FinalObjectiveMetricValue")
            for summary in listing["TrainingJobSummaries"]:
                metric = summary["FinalHyperParameterTuningJobObjectiveMetric"]
                history.append((dict(summary["TunedHyperParameters"]), float(metric["Value"])))
        return history

    # -- ending ------------------------------------------------------------------------------------
    def _stop_trials(self, running: dict[str, int] | None = None) -> None:
        """Stop every trial of this job still running (the ones started here and any the record names)."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # Every trial the record names, not only those this loop saw start: one launched while the stop
        # arrived is in the record before it is in ``running``.
        recorded = [t["name"] for t in job_state.local(
            self.table.db.get(TUNING.arn_type, self.name) or {}).get("trials", [])]
        names = list(dict.fromkeys([*(running or {}), *recorded]))
        for trial in names:
            try:
                if self.service.describe_training_job(TrainingJobName=trial)["TrainingJobStatus"] == "InProgress":
                    self.service.stop_training_job(TrainingJobName=trial)
                    self._say(f"trial {trial}: stopping")
            except Exception as exc:  # one trial that cannot be stopped must not keep the others running
                self._say(f"trial {trial}: could not be stopped: {exc}")
        # As on SageMaker, the tuning job is Stopped once its trials are (bounded: a stuck one is reconciled later).
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while names and time.monotonic() < deadline:
            names = [trial for trial in names
                     if self.service.describe_training_job(TrainingJobName=trial)["TrainingJobStatus"]
                     in job_state.RUNNING]
            time.sleep(POLL_SECONDS)

    def _finish(self, status: str, reason: str) -> None:
        def change(body: dict[str, Any]) -> None:
            if body[TUNING.status_key] in job_state.RUNNING:
                job_state.finish(body, status, job_state.now_iso(), kind=TUNING, failure_reason=reason)

        self.table.update(self.name, change)
        self._say(f"tuning job {self.name}: {status}" + (f": {reason}" if reason else ""))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m smtrain.backends.local.tuning.tuner HOME TUNING_JOB_NAME", file=sys.stderr)
        return 2
    return Tuner(LocalHome(Path(args[0])), args[1]).run()


if __name__ == "__main__":
    sys.exit(main())

"""Following a tuning job: its trials' counts and the best objective so far, until it ends; Ctrl-C.

A tuning job has no log of its own; what it reports is DescribeHyperParameterTuningJob's
``TrainingJobStatusCounters`` and ``BestTrainingJob``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from smtrain.backends.base import Backend
from smtrain.execution.executor import Reporter, call
from smtrain.planning.kinds import TUNING

STOP_WAIT_SECONDS = 60.0


def progress_line(description: Mapping[str, Any]) -> str:
    """``InProgress: 3 completed, 1 failed, 2 running; best test_accuracy 0.97 (job-003-1a2b3c4d)``."""
    counters = description.get("TrainingJobStatusCounters") or {}
    failed = int(counters.get("RetryableError", 0)) + int(counters.get("NonRetryableError", 0))
    line = (f"{description[TUNING.status_key]}: {counters.get('Completed', 0)} completed, {failed} failed, "
            f"{counters.get('InProgress', 0)} running")
    if counters.get("Stopped"):
        line += f", {counters['Stopped']} stopped"
    best = description.get("BestTrainingJob") or {}
    metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    if metric:
        line += f"; best {metric.get('MetricName', 'objective')} {metric.get('Value'):g} ({best['TrainingJobName']})"
    return line


def follow_tuning(backend: Backend, name: str, reporter: Reporter) -> dict[str, Any]:
    """Poll the tuning job until it ends, saying each change of its trials' counts; its last description.

    Ctrl-C stops a tuning job that runs here (its running trials with it); on SageMaker it detaches."""
    params = {TUNING.name_key: name}
    last = ""
    with reporter.waiting(f"tuning job {name}") as spinner:
        try:
            while True:
                description = call(backend, TUNING.describe, params, where=f"tuning job {name}")
                line = progress_line(description)
                if line != last:
                    reporter.info(line)
                    spinner.update(line)
                    last = line
                if description[TUNING.status_key] in TUNING.terminal:
                    return description
                backend.sleep(backend.poll_seconds)
        except KeyboardInterrupt:
            return interrupt(backend, name, reporter)


def interrupt(backend: Backend, name: str, reporter: Reporter) -> dict[str, Any]:
    if not backend.runs_here:
        from smtrain.core.hints import suggest

        stop = suggest(backend.config, "stop", name)
        reporter.info(f"detached; tuning job {name} keeps running. Stop it with: {stop}")
        raise KeyboardInterrupt
    reporter.info(f"stopping tuning job {name} and its running trials ...")
    call(backend, TUNING.stop, {TUNING.name_key: name})
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while True:
        description = call(backend, TUNING.describe, {TUNING.name_key: name})
        if description[TUNING.status_key] in TUNING.terminal or time.monotonic() >= deadline:
            reporter.info(progress_line(description))
            return description
        backend.sleep(0.2)

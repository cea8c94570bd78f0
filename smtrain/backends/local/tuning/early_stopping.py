"""Stopping trials whose intermediate objective falls behind, as SageMaker's ``Auto`` early stopping does.

AWS docs ("Stop Training Jobs Early"): after each epoch SageMaker takes the trial's objective value,
computes for every earlier trial the running average of its objective up to the same epoch, takes
the median of those running averages, and stops the trial if its value is worse than that median
(lower when maximizing, higher when minimizing). Locally an "epoch" is the n-th value of the
objective the trial printed (the metric definitions capture them from its log, with timestamps).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path

MIN_EARLIER_TRIALS = 3  # a median of fewer trials says little; SageMaker, too, lets the first trials run


def objective_values(history: Path, metric: str) -> list[float]:
    """The objective's values in the order the trial printed them (its metric history file)."""
    if not history.is_file():
        return []
    values = []
    for line in history.read_text(encoding="utf-8").splitlines():
        try:
            point = json.loads(line)
        except ValueError:  # a line being written right now
            continue
        if point.get("MetricName") == metric:
            values.append(float(point["Value"]))
    return values


def running_average(values: Sequence[float], step: int) -> float:
    return statistics.fmean(values[:step])


def falls_behind(current: Sequence[float], earlier: Sequence[Sequence[float]], *, maximize: bool) -> bool:
    """Whether the trial's latest value is worse than the median of earlier trials' running averages
    at the same step (only earlier trials that reached that step count)."""
    if not current:
        return False
    step = len(current)
    averages = [running_average(values, step) for values in earlier if len(values) >= step]
    if len(averages) < MIN_EARLIER_TRIALS:
        return False
    median = statistics.median(averages)
    return current[-1] < median if maximize else current[-1] > median

"""Metric history as a terminal sparkline, or as a PNG chart (matplotlib, an optional extra)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smtrain.core.errors import UsageError
from smtrain.core.metric_values import value_of

BARS = "▁▂▃▄▅▆▇█"
NOT_FINITE_BAR = "!"  # a nan or inf in the history
SPARK_WIDTH = 40


def sparkline(values: Sequence[float], width: int = SPARK_WIDTH) -> str:
    """``▁▃▆█``: one bar per value (the last ``width`` values), scaled between their min and max."""
    values = list(values)[-width:]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return NOT_FINITE_BAR * len(values)
    low, high = min(finite), max(finite)
    span = high - low
    return "".join(NOT_FINITE_BAR if not math.isfinite(v) else BARS[len(BARS) // 2] if span == 0
                   else BARS[min(len(BARS) - 1, int((v - low) / span * len(BARS)))] for v in values)


def by_metric(history: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {}
    for point in history:
        series.setdefault(point["MetricName"], []).append(value_of(point))
    return series


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UsageError("--plot needs matplotlib", where="--plot",
                         hint="pip install 'smtrain[plot]' (or pip install matplotlib)") from exc
    return plt


def plot_trials(points: Sequence[tuple[int, float]], best: int | None, path: Path, *, metric: str,
                title: str) -> Path:
    """A tuning job's objective by trial number (the best trial marked), written to ``path``."""
    if not points:
        raise UsageError("no trial has an objective value to plot", where="--plot",
                         hint="wait for a trial to complete (`smtrain show` lists them), or look at its "
                              "failed trials' logs")
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5))
    axes.plot([n for n, _ in points], [v for _, v in points], marker="o", linestyle="none", label=metric)
    axes.plot([n for n, v in points if n == best], [v for n, v in points if n == best], marker="*",
              markersize=14, linestyle="none", color="red", label="best")
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials are numbered 1, 2, ...
    axes.set_xlabel("trial")
    axes.set_ylabel(metric)
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def plot(history: Sequence[dict[str, Any]], path: Path, title: str) -> Path:
    """One line per metric against its step, written to ``path``."""
    plt = _pyplot()
    series = by_metric(history)
    if not series:
        raise UsageError("the run has no metric history to plot", where="--plot",
                         hint="give fit --metric-definition NAME=REGEX so metrics are read from the log")
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for name, values in series.items():
        axes.plot(range(1, len(values) + 1), values, marker="o" if len(values) < 30 else None, label=name)
    axes.set_xlabel("value number (log order)")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path

"""Shared bench helpers: interleaved timing of commands, medians, ratios."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def time_command(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   env=env, cwd=cwd)
    return time.perf_counter() - start


def interleaved(runs: int, **candidates: Callable[[], float]) -> dict[str, list[float]]:
    """Run each candidate once per round, alternating, so drift hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(runs):
        for name, run in candidates.items():
            times[name].append(run())
    return times


def report(title: str, times: dict[str, list[float]], baseline: str) -> None:
    base = statistics.median(times[baseline])
    print(f"\n{title}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<28} median {median * 1000:8.1f} ms  min {min(values) * 1000:8.1f} ms  "
              f"ratio {median / base:5.2f}x  (n={len(values)})")


def bench_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env.update(extra)
    return env

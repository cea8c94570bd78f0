"""Submit and sync rows of bench/run.py: bench/submit.py and bench/sync.py (same method, same checks,
against a local moto server), with SDK v2 and the AWS CLI from bench/.venv-sdk2."""

from __future__ import annotations

import argparse

from peers import ensure
from suite_cli import median
from table import Goal, Row

MIB = 1024 * 1024


def submit(runs: int, quick: bool) -> list[Row]:
    import submit as submit_bench

    ensure("sdk2")
    times = submit_bench.measure(runs, diagnostics=False)
    return [Row("submit", "submit to SageMaker (moto), `smtrain fit --no-wait`",
                median(times["smtrain fit --no-wait"]), "SDK v2 `SKLearn.fit(wait=False)`",
                median(times["sdk v2 SKLearn.fit(wait=False)"]), note="image-URI cache warm")]


def sync(runs: int, quick: bool) -> list[Row]:
    import sync as sync_bench

    ensure("sdk2")
    shapes = ((4, 5), (40, 1)) if quick else ((20, 10), (200, 1))
    rows = []
    for files, file_mib in shapes:
        timings = sync_bench.measure(argparse.Namespace(runs=runs, files=files, file_mib=file_mib))
        shape = f"{files} x {file_mib} MiB"
        first, resync = timings["first"], timings["resync"]
        rows.append(Row("sync", f"first sync, {shape}", median(first["smtrain sync"]), "`aws s3 sync`",
                        median(first["aws s3 sync"]), goal=Goal("ratio_max", 1.0)))
        rows.append(Row("sync", f"unchanged re-sync, {shape} (0 bytes uploaded)", median(resync["smtrain sync"]),
                        "`aws s3 sync`", median(resync["aws s3 sync"]), goal=Goal("ratio_max", 1.0),
                        note="smtrain compares content; aws s3 sync size and mtime"))
    return rows

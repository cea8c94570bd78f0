"""What bench/endpoint.py and bench/load.py share: the penguins model deployed locally in a scratch home,
the single-row CSV body they send, and percentiles."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import REPO

ROW = "Adelie,Torgersen,39.1,18.7,181.0,3750.0"


@contextmanager
def deployed(work: Path, workers: int = 0) -> Iterator[tuple[Any, Any, Any]]:
    """(session, job, endpoint): penguins prepared, fitted and deployed in ``work``/home; torn down after."""
    import smtrain

    session = smtrain.Session(home=str(work / "home"), quiet=True)
    data = session.prepare(out_dir=work / "data", progress=False)
    job = session.fit("penguins.py", source_dir=REPO / "entry_points", channels={"train": data.train_uri},
                      hyperparameters=data.hyperparameters())
    endpoint = session.deploy(job.name, workers=workers or None)  # 0: the default, one per CPU
    try:
        yield session, job, endpoint
    finally:
        session.teardown(endpoint.name)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

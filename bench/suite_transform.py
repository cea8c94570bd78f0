"""Batch transform row of bench/run.py: local transform throughput against the physical limit.

The data: 100,000 penguins-shaped rows (the test split's rows repeated, no header), one CSV file.
The limit: the same fitted pipeline's own handlers in one process over the same bytes (the job's
penguins.py ``input_fn`` -> ``predict_fn`` -> ``output_fn``, the model loaded once, nothing sent
anywhere). smtrain: ``sm.transform(job, input=...)`` at its defaults (MultiRecord, the default 6 MB
payload, SplitType Line), its throughput taken from the moment its model server answered
(TransformStartTime) to the moment the last record's answer was written; the whole job's wall time
(submit to Completed, model server start and stop included) is a second row, against the same limit.
"""

from __future__ import annotations

import importlib.util
import tarfile
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from common import REPO
from suite_cli import median
from table import Goal, Row

ROWS = 100_000
QUICK_ROWS = 20_000


def batch_file(test_csv: Path, path: Path, rows: int) -> Path:
    _, *lines = test_csv.read_text().splitlines()
    path.write_text("\n".join(lines[i % len(lines)] for i in range(rows)) + "\n")
    return path


def in_one_process(model_data: str, work: Path, batch: Path) -> float:
    """Seconds for the pipeline's own handlers over the whole file, model already loaded."""
    model_dir = work / "model"
    with tarfile.open(model_data.removeprefix("file://")) as archive:
        archive.extractall(model_dir, filter="data")
    spec = importlib.util.spec_from_file_location("penguins_bench", REPO / "entry_points" / "penguins.py")
    assert spec and spec.loader
    script: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    model = script.model_fn(str(model_dir))
    body = batch.read_bytes()
    start = time.perf_counter()
    script.output_fn(script.predict_fn(script.input_fn(body, "text/csv"), model), "text/csv")
    return time.perf_counter() - start


def timestamp(text: Any) -> float:
    return (text if isinstance(text, datetime) else datetime.fromisoformat(str(text))).timestamp()


def transform(runs: int, quick: bool) -> list[Row]:
    import smtrain

    rows = QUICK_ROWS if quick else ROWS
    with tempfile.TemporaryDirectory(prefix="smtrain-bench-transform-") as scratch:
        work = Path(scratch)
        session = smtrain.Session(home=str(work / "home"), quiet=True)
        data = session.prepare(out_dir=work / "data", progress=False)
        job = session.fit("penguins.py", source_dir=REPO / "entry_points", channels={"train": data.train_uri},
                          hyperparameters=data.hyperparameters())
        batch = batch_file(work / "data" / "test" / "X_test.csv", work / "batch.csv", rows)
        limit, steady, whole = [], [], []
        for number in range(runs):  # interleaved: each round measures both
            limit.append(in_one_process(job.model_data, work / f"limit-{number}", batch))
            started = time.perf_counter()
            done = session.transform(job.name, input=str(batch), job_name=f"bench-{number}", logs=False)
            whole.append(time.perf_counter() - started)
            record = session.backend.sagemaker().db.get("transform-job", done.name)  # type: ignore[attr-defined]
            steady.append(timestamp(record["_local"]["records_done"]) - timestamp(record["TransformStartTime"]))
            assert len(done.output(raw=True).splitlines()) == rows
    note = (f"{rows:,} rows, MultiRecord at the default 6 MB payload; the limit is penguins.py's handlers in "
            "one process")
    return [
        Row("transform", f"local transform throughput, {rows:,} rows", rows / median(steady),
            "predict in one process", rows / median(limit), unit="rows/s", goal=Goal("ratio_min", 0.7), note=note),
        Row("transform", f"local transform job, {rows:,} rows, submit to Completed", rows / median(whole),
            "predict in one process", rows / median(limit), unit="rows/s",
            note="includes starting and stopping the model server"),
    ]

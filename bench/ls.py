"""`smtrain ls` wall time with 10, 1,000 and 10,000 local runs, as a ratio to `python -c pass` (goal: under
0.3 s at 10,000).

    python bench/ls.py [--runs 15] [--sizes 10,1000,10000]

Each store holds completed jobs whose records are built the way the local
backend builds them (the CreateTrainingJob request smtrain plans, finished
with metrics, tags, versions), so each row is the size of a real one. `ls`
is timed piped (stdout to /dev/null), as a script or CI would run it, and
with --json; the commands are interleaved and medians reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
from contextlib import closing
from pathlib import Path

from common import bench_env, interleaved, report, time_command

from smtrain.backends.local.jobs import job_state
from smtrain.backends.local.store.state import StateDB
from smtrain.backends.local.training.operations import _new_record
from smtrain.core.config import Config
from smtrain.planning.plan import LOCAL_IMAGE, LOCAL_ROLE, plan_fit
from smtrain.planning.spec import TrainingSpec


def record(name: str, index: int, data: Path) -> dict[str, object]:
    spec = TrainingSpec(entry_point="penguins.py", source_dir=data, channels={"train": str(data)},
                        hyperparameters={"C": 0.1 * (index % 10 + 1), "target": "sex",
                                         "numeric-features": "bill_length_mm,bill_depth_mm,flipper_length_mm"},
                        job_name=name, metric_definitions={"train:accuracy": r"train_accuracy=([0-9.]+)"},
                        tags={"team": "ml", "smtrain:git-commit": "0" * 40, "smtrain:git-dirty": "false"})
    call = next(step for step in plan_fit(spec, Config(), root="file:///store/smtrain", image_uri=LOCAL_IMAGE,
                                          role=LOCAL_ROLE) if getattr(step, "operation", "") == "CreateTrainingJob")
    body = _new_record(dict(call.params), "us-east-1")  # type: ignore[union-attr]
    job_state.set_secondary(body, "Training", job_state.now_iso())
    body["FinalMetricDataList"] = [{"MetricName": "train:accuracy", "Value": 0.8 + (index % 100) / 1000,
                                    "Timestamp": job_state.now_iso()}]
    job_state.finish(body, "Completed", job_state.now_iso())
    job_state.local(body).update(supervisor_pid=0, versions={"python": "3.11.7", "scikit-learn": "1.4.2"})
    return body


def make_store(root: Path, runs: int) -> Path:
    home = root / ".smtrain"
    StateDB(home / "state.db")  # the schema, as the local backend creates it
    data = root / "data"
    data.mkdir(exist_ok=True)
    rows = [("training-job", f"job-{i:05d}", json.dumps(record(f"job-{i:05d}", i, data))) for i in range(runs)]
    with closing(sqlite3.connect(home / "state.db")) as db, db:
        db.executemany("INSERT INTO resources VALUES (?, ?, ?)", rows)
    (root / "smtrain.toml").write_text("")
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--sizes", default="10,1000,10000")
    args = parser.parse_args()
    smtrain = shutil.which("smtrain")
    if not smtrain:
        sys.exit("smtrain is not on PATH: activate the virtual environment first")
    env = bench_env()
    with tempfile.TemporaryDirectory(prefix="smtrain-bench-ls-") as scratch:
        projects = {int(n): make_store(Path(scratch) / f"p{n}", int(n)) for n in args.sizes.split(",")}
        size = (projects[max(projects)] / ".smtrain" / "state.db").stat().st_size
        print(f"stores ready; the largest state.db is {size / 1e6:.1f} MB")
        candidates = {"python -c pass": lambda: time_command([sys.executable, "-c", "pass"])}
        for n, project in projects.items():
            candidates[f"ls, {n} runs"] = lambda p=project: time_command([smtrain, "ls"], env=env, cwd=p)
            candidates[f"ls --all, {n} runs"] = lambda p=project: time_command([smtrain, "ls", "--all"], env=env,
                                                                               cwd=p)
        largest = projects[max(projects)]
        candidates[f"ls --json --where, {max(projects)}"] = lambda: time_command(
            [smtrain, "ls", "--json", "--where", "train:accuracy>0.85", "--sort", "train:accuracy"], env=env,
            cwd=largest)
        report("smtrain ls (local runs, piped)", interleaved(args.runs, **candidates), baseline="python -c pass")


if __name__ == "__main__":
    main()

"""CLI start-up and `smtrain ls` rows of bench/run.py.

Start-up: `smtrain --help` and `smtrain fit --help` (console script) against `python -c pass`, and
against importing SDK v2's estimator and SDK v3's ModelTrainer in their own venvs.

ls: `smtrain ls` on an empty store and on stores of 10, 1,000 and 10,000 runs. Fitting 10,000 jobs
through the CLI would take hours, so one real `smtrain fit` makes a template store and its job record
is copied N times straight into the store's SQLite table (``resources``, kind ``training-job``, see
smtrain/backends/local/store/state.py) with fresh names and creation times; `smtrain ls --json` must then
list them, or the rows are skipped (the store layout changed: update ``clone_runs``).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import REPO, bench_env, interleaved, time_command
from peers import PeerUnavailable, ensure
from table import Goal, Row, skipped

SDK2_IMPORT = "from sagemaker.estimator import Estimator"
SDK3_IMPORT = "from sagemaker.train import ModelTrainer"


def smtrain_program() -> str:
    program = Path(sys.executable).with_name("smtrain")
    if not program.exists():
        raise RuntimeError("smtrain is not installed beside this interpreter: activate smtrain's venv")
    return str(program)


def median(values: list[float]) -> float:
    return statistics.median(values)


def startup(runs: int, quick: bool) -> list[Row]:
    smtrain = smtrain_program()
    candidates = {
        "pass": lambda: time_command([sys.executable, "-c", "pass"]),
        "help": lambda: time_command([smtrain, "--help"]),
        "fit-help": lambda: time_command([smtrain, "fit", "--help"]),
    }
    missing: dict[str, str] = {}
    for peer, code in (("sdk2", SDK2_IMPORT), ("sdk3", SDK3_IMPORT)):
        try:
            python = str(ensure(peer) / "python")
        except PeerUnavailable as exc:
            missing[peer] = str(exc)
            continue
        argv = [python, "-c", code]
        time_command(argv)  # untimed: compiles the peer's bytecode once
        candidates[peer] = lambda argv=argv: time_command(argv)  # type: ignore[misc]
    times = interleaved(runs, **candidates)
    base = median(times["pass"])
    rows = [
        Row("startup", "`smtrain --help`", median(times["help"]), "`python -c pass`", base, samples=times),
        Row("startup", "`smtrain fit --help` (loads the CLI)", median(times["fit-help"]), "`python -c pass`", base),
    ]
    labels = {"sdk2": f"SDK v2 `{SDK2_IMPORT}`", "sdk3": f"SDK v3 `{SDK3_IMPORT}`"}
    for peer, label in labels.items():
        if peer in missing:
            rows.append(skipped("startup", f"`smtrain fit --help` vs {label}", missing[peer]))
        else:
            rows.append(Row("startup", "`smtrain fit --help` vs importing the SDK", median(times["fit-help"]),
                            label, median(times[peer])))
    return rows


def clone_runs(template: Path, home: Path, count: int) -> None:
    """A store of ``count`` runs: the template store with its one job record copied ``count`` times."""
    shutil.copytree(template, home, ignore=shutil.ignore_patterns("jobs", "endpoints", "runtime", "venvs"))
    db = sqlite3.connect(home / "state.db")
    try:
        (name, body), = db.execute("SELECT name, body FROM resources WHERE kind='training-job'").fetchall()
        record = json.loads(body)
        start = datetime.now(timezone.utc) - timedelta(days=30)
        rows = []
        for index in range(count):
            clone = dict(record)
            clone["TrainingJobName"] = f"bench-{index:05d}"
            clone["TrainingJobArn"] = record["TrainingJobArn"].replace(name, clone["TrainingJobName"])
            clone["CreationTime"] = (start + timedelta(seconds=index)).isoformat()
            rows.append(("training-job", clone["TrainingJobName"], json.dumps(clone)))
        db.execute("DELETE FROM resources WHERE kind='training-job'")
        db.executemany("INSERT INTO resources VALUES (?, ?, ?)", rows)
        db.commit()
    finally:
        db.close()


def make_template(smtrain: str, work: Path) -> Path:
    from smtrain.project.data import prepare

    home = work / "template"
    data = prepare(out_dir=work / "data")
    argv = [smtrain, "fit", "--entry-point", "penguins.py", "--source-dir", str(REPO / "entry_points"),
            "--channel", f"train={data.train_dir}", *[f"--hp={k}={v}" for k, v in data.hyperparameters().items()]]
    subprocess.run(argv, env=bench_env(SMTRAIN_HOME=str(home)), cwd=work, check=True, capture_output=True,
                   timeout=300)
    return home


def listed(smtrain: str, home: Path) -> int:
    out = subprocess.run([smtrain, "ls", "--json"], env=bench_env(SMTRAIN_HOME=str(home)), capture_output=True,
                         text=True, check=True, timeout=120).stdout
    return sum(1 for line in out.splitlines() if json.loads(line).get("name"))


def ls(runs: int, quick: bool) -> list[Row]:
    smtrain = smtrain_program()
    sizes = (10, 1000, 10000)
    with tempfile.TemporaryDirectory(prefix="smtrain-bench-ls-") as scratch:
        work = Path(scratch)
        template = make_template(smtrain, work)
        homes = {"empty": work / "empty"}
        reason = ""
        try:
            for size in sizes:
                homes[str(size)] = work / f"runs-{size}"
                clone_runs(template, homes[str(size)], size)
            if listed(smtrain, homes["10"]) != 10:
                raise ValueError("`smtrain ls --json` does not list them")
        except (OSError, ValueError, KeyError, sqlite3.Error, subprocess.SubprocessError) as exc:
            reason = f"no store of N runs ({type(exc).__name__}: {exc}): the layout changed, see clone_runs"
            homes = {"empty": work / "empty"}
        candidates = {"pass": lambda: time_command([sys.executable, "-c", "pass"])}
        for key, home in homes.items():
            env = bench_env(SMTRAIN_HOME=str(home))
            candidates[key] = lambda env=env: time_command([smtrain, "ls"], env=env, cwd=work)  # type: ignore[misc]
        times = interleaved(runs, **candidates)
    base = median(times["pass"])
    note = "runs cloned from one real fit straight into the store (the CLI would take hours)"
    rows = [Row("ls", "`smtrain ls`, empty store", median(times["empty"]), "`python -c pass`", base,
                goal=Goal("ratio_max", 3.0))]
    for size in sizes:
        goal = Goal("value_max", 0.3) if size == 10000 else None
        if reason:
            rows.append(skipped("ls", f"`smtrain ls`, {size:,} runs", reason))
            continue
        rows.append(Row("ls", f"`smtrain ls`, {size:,} runs", median(times[str(size)]), "`python -c pass`", base,
                        goal=goal, note=note if size == 10000 else ""))
    return rows

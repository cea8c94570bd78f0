"""Local tuning row of bench/run.py: 20 trials of entry_points/penguins.py at --max-parallel 2.

The ideal is the same 20 runs of the script done directly (`python penguins.py --train DIR --model-dir DIR
--C VALUE`), two at a time, as a shell would run them; smtrain is `smtrain tune --strategy Random
--max-jobs 20 --max-parallel 2` over C (log scale), from the command's start to its exit: packing, the
tuner, 20 local training jobs (each its own supervisor and job folder), the search, and the waits.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import REPO, bench_env, interleaved, time_command
from suite_cli import median, smtrain_program
from table import Goal, Row

TRIALS = 20
QUICK_TRIALS = 6
PARALLEL = 2


def direct_runs(train_dir: Path, model_root: Path, hps: dict[str, str], trials: int, env: dict[str, str]) -> float:
    """``trials`` direct runs of the script, ``PARALLEL`` at a time: the ideal a tuner can approach."""
    def one(index: int) -> None:
        model_dir = model_root / f"m{index}"
        model_dir.mkdir(parents=True, exist_ok=True)
        c = math.exp(math.log(0.01) + (math.log(10) - math.log(0.01)) * index / max(1, trials - 1))
        argv = [sys.executable, str(REPO / "entry_points" / "penguins.py"), "--train", str(train_dir),
                "--model-dir", str(model_dir), "--C", repr(c), *[f"--{k}={v}" for k, v in sorted(hps.items())]]
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)

    start = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(one, range(trials)))
    return time.perf_counter() - start


def tune(runs: int, quick: bool) -> list[Row]:
    from smtrain.project.data import prepare

    smtrain = smtrain_program()
    trials = QUICK_TRIALS if quick else TRIALS
    with tempfile.TemporaryDirectory(prefix="smtrain-bench-tune-") as scratch:
        work = Path(scratch)
        data = prepare(out_dir=work / "data")
        hps = {k: str(v) for k, v in data.hyperparameters().items()}
        env = bench_env(SMTRAIN_HOME=str(work / "home"))
        counter = iter(range(10**6))

        def smtrain_tune() -> float:
            argv = [smtrain, "tune", "--entry-point", "penguins.py", "--source-dir", str(REPO / "entry_points"),
                    "--channel", f"train={data.train_dir}", *[f"--hp={k}={v}" for k, v in hps.items()],
                    "--metric-definition", "train_accuracy=train_accuracy=([0-9.]+)", "--objective",
                    "train_accuracy", "--range", "C=continuous:0.01:10:log", "--strategy", "Random",
                    "--max-jobs", str(trials), "--max-parallel", str(PARALLEL), "--job-name",
                    f"bench-tune-{next(counter)}"]
            return time_command(argv, env=env, cwd=work)

        times = interleaved(runs, direct=lambda: direct_runs(data.train_dir, work / "direct", hps, trials, env),
                            smtrain=smtrain_tune)
    return [Row("tune", f"local tuning, {trials} trials at --max-parallel {PARALLEL}", median(times["smtrain"]),
                f"{trials} direct runs, {PARALLEL} at a time", median(times["direct"]),
                goal=Goal("ratio_max", 1.15), samples=times)]

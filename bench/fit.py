"""Local `smtrain fit` of the penguins job as a ratio to running the script directly (goal: at most 1.25x).

Both run the same entry_points/penguins.py on the same prepared data with the
same hyperparameters; smtrain adds packing the source, the job tree, the
SM_* contract, the supervisor process, log capture and model.tar.gz.

    python bench/fit.py [--runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from common import REPO, bench_env, interleaved, report, time_command


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    smtrain = shutil.which("smtrain")
    if not smtrain:
        sys.exit("smtrain is not on PATH: activate the virtual environment first")
    from smtrain.data import prepare

    with tempfile.TemporaryDirectory(prefix="smtrain-bench-") as scratch:
        work = Path(scratch)
        data = prepare(out_dir=work / "data")
        hps = data.hyperparameters()
        direct = [sys.executable, str(REPO / "entry_points" / "penguins.py"), "--train", str(data.train_dir),
                  "--model-dir", str(work / "model")]
        for key, value in sorted(hps.items()):
            direct += [f"--{key}", str(value)]
        fit = [smtrain, "fit", "--entry-point", "penguins.py", "--source-dir", str(REPO / "entry_points"),
               "--channel", f"train={data.train_dir}", *[f"--hp={k}={v}" for k, v in hps.items()]]
        env = bench_env(SMTRAIN_HOME=str(work / "home"))
        (work / "model").mkdir()
        times = interleaved(
            args.runs,
            **{
                "python penguins.py (direct)": lambda: time_command(direct, env=env),
                "smtrain fit (local)": lambda: time_command(fit, env=env, cwd=work),
            },
        )
    report("Local fit of the penguins job", times, baseline="python penguins.py (direct)")


if __name__ == "__main__":
    main()

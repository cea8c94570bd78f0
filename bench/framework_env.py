"""Framework environments: first build, reuse, and local fit as a ratio to the direct script.

1. First build of the environment for ``--version`` (default 1.4-2: an image
   whose scikit-learn differs from this environment's) in ``--cache``.
2. Reuse: choosing that environment again (what every later job does).
3. Local ``smtrain fit`` of the penguins job vs running penguins.py directly
   (goal: at most 1.25x), on the fast path (the default framework version,
   matched by this environment) and on the reused built environment (whose
   direct baseline runs the script with that environment's Python).

    python bench/framework_env.py [--version 1.4-2] [--cache DIR] [--runs 5]

``--cache`` defaults to a fresh temporary directory (so the build is a first
build); give a directory to keep the environment for later runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, bench_env, interleaved, report, time_command


def build(version: str, code: Path, log: Path) -> tuple[float, str]:
    from smtrain.backends.local.environments import frameworks

    def run(command: object, cwd: Path) -> int:
        with open(log, "ab") as out:
            return subprocess.call(list(command), cwd=cwd, stdout=out, stderr=subprocess.STDOUT)  # type: ignore[call-overload]

    start = time.perf_counter()
    environment = frameworks.environment_for(version, code, run, say=lambda message: print(" ", message))
    return time.perf_counter() - start, environment.python


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default="1.4-2")
    parser.add_argument("--cache", default="")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    smtrain = shutil.which("smtrain")
    if not smtrain:
        sys.exit("smtrain is not on PATH: activate the virtual environment first")
    from smtrain.backends.local.environments import frameworks
    from smtrain.data import prepare

    with tempfile.TemporaryDirectory(prefix="smtrain-bench-") as scratch:
        work = Path(scratch)
        cache = Path(args.cache).resolve() if args.cache else work / "cache"
        os.environ[frameworks.CACHE_VARIABLE] = str(cache)
        code = work / "code"
        code.mkdir()
        first, python = build(args.version, code, work / "build.log")
        print(f"\nFramework environment {args.version} on Python {frameworks.python_version()} in {cache}")
        print(f"  first call (build, or reuse if --cache already had it)  {first:8.1f} s")
        reuse = [build(args.version, code, work / "build.log")[0] for _ in range(args.runs)]
        print(f"  reuse                                   median {statistics.median(reuse) * 1000:8.1f} ms")
        print("  libraries:", frameworks.library_versions(python))

        data = prepare(out_dir=work / "data")
        hps = data.hyperparameters()
        script = [str(REPO / "entry_points" / "penguins.py"), "--train", str(data.train_dir),
                  "--model-dir", str(work / "model")]
        for key, value in sorted(hps.items()):
            script += [f"--{key}", str(value)]
        fit = [smtrain, "fit", "--entry-point", "penguins.py", "--source-dir", str(REPO / "entry_points"),
               "--channel", f"train={data.train_dir}", *[f"--hp={k}={v}" for k, v in hps.items()]]
        env = bench_env(SMTRAIN_HOME=str(work / "home"), **{frameworks.CACHE_VARIABLE: str(cache)})
        (work / "model").mkdir()
        fast = interleaved(args.runs, **{
            "direct (this Python)": lambda: time_command([sys.executable, *script], env=env),
            "smtrain fit (fast path)": lambda: time_command(fit, env=env, cwd=work),
        })
        report(f"Fast path: default framework {frameworks.default_version()}", fast, baseline="direct (this Python)")
        built = interleaved(args.runs, **{
            f"direct ({args.version} Python)": lambda: time_command([python, *script], env=env),
            f"smtrain fit ({args.version})": lambda: time_command(
                [*fit, "--framework-version", args.version], env=env, cwd=work),
        })
        report(f"Reused environment {args.version}", built, baseline=f"direct ({args.version} Python)")


if __name__ == "__main__":
    main()

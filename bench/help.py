"""`smtrain --help` wall time as a ratio to `python -c pass` (goal: at most 1.5x).

    python bench/help.py [--runs 40]
"""

from __future__ import annotations

import argparse
import shutil
import sys

from common import interleaved, report, time_command


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    smtrain = shutil.which("smtrain")
    if not smtrain:
        sys.exit("smtrain is not on PATH: activate the virtual environment first")
    times = interleaved(
        args.runs,
        **{
            "python -c pass": lambda: time_command([sys.executable, "-c", "pass"]),
            "smtrain --help": lambda: time_command([smtrain, "--help"]),
            "smtrain fit --help": lambda: time_command([smtrain, "fit", "--help"]),
        },
    )
    report("CLI start-up", times, baseline="python -c pass")


if __name__ == "__main__":
    main()

"""Framework environments on their own: `python bench/run.py --only frameworks` with a cache of your choice.

    python bench/framework_env.py [--cache DIR] [--runs 5]

Local `smtrain fit` of penguins on the fast path against `--framework-version current`, and with the
built 1.4-2 environment against the script run by that environment's Python; the first build's time
when this run built it (see bench/suite_costs.py). ``--cache`` defaults to bench/.venv-frameworks; the
tests' cache (.pytest_cache/d/smtrain-frameworks) works too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from suite_costs import BENCH, frameworks
from table import console


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", default=str(BENCH / ".venv-frameworks"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(console(frameworks(args.runs, False, cache=Path(args.cache).resolve())))


if __name__ == "__main__":
    main()

"""Packing and extraction figures (issue 6): run `python bench/packing.py` from the repository root.

- scan: choosing what a 330-folder, 600-file source tree packs, git deciding (inside a work
  tree) and pathspec deciding (outside one), as a ratio to a bare os.walk of the same tree;
- bomb: how long a 1 MB gzip that expands to 1 GiB takes to be refused, and what it leaves;
- data: listing a 100-folder, 20,000-file data folder under the data policy (what a channel sync
  sends), as a ratio to the plain rglob listing sync used before the policy.
Medians of 5 interleaved runs; nothing here is asserted.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smtrain.core.errors import SmtrainError
from smtrain.files.archives import safe_extract
from smtrain.files.packing import scan_data, scan_source
from tests.reliability.test_packing import gzip_bomb

RUNS = 5


def tree(root: Path) -> Path:
    for index in range(300):
        folder = root / f"pkg{index % 30}" / f"m{index}"
        folder.mkdir(parents=True)
        (folder / "a.py").write_text("x")
        (folder / "b.log").write_text("x")
    (root / ".gitignore").write_text("*.log\n")
    return root


def median_seconds(action: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        in_git, plain = tree(work / "in-git"), tree(work / "plain")
        subprocess.run(["git", "init", "-q", str(in_git)], check=True)
        walk = median_seconds(lambda: [files for _, _, files in os.walk(plain)])
        for label, root in (("git", in_git), ("pathspec", plain)):
            seconds = median_seconds(lambda root=root: scan_source(root))  # type: ignore[misc]
            result = scan_source(root)
            print(f"scan ({label}): {len(result.names)} packed, {len(result.excluded)} left out, "
                  f"{seconds * 1000:.0f} ms, {seconds / walk:.0f}x os.walk ({walk * 1000:.1f} ms)")
        bomb = gzip_bomb(work / "bomb.tar.gz", 1024**3)
        start = time.perf_counter()
        try:
            safe_extract(bomb, work / "out")
            outcome = "EXTRACTED"
        except SmtrainError as error:
            outcome = type(error).__name__
        seconds = time.perf_counter() - start
        left = sorted(p.name for p in work.iterdir() if p.name.startswith((".out", "out")))
        print(f"bomb: {bomb.stat().st_size:,} bytes -> 1 GiB, default limits: {outcome} in {seconds * 1000:.1f} ms; "
              f"left behind: {left or 'nothing'}")
        shutil.rmtree(work / "out", ignore_errors=True)
        data_listing(work / "data")


def data_listing(data: Path) -> None:
    for index in range(100):
        (data / f"d{index}").mkdir(parents=True)
        for number in range(200):
            (data / f"d{index}" / f"f{number}.csv").write_text("x")
    rglob = median_seconds(lambda: [p for p in sorted(data.rglob("*")) if p.is_file()])
    seconds = median_seconds(lambda: scan_data(data))
    print(f"data: {len(scan_data(data).names):,} files listed under the policy in {seconds * 1000:.0f} ms, "
          f"{seconds / rglob:.2f}x a plain rglob listing ({rglob * 1000:.0f} ms)")


if __name__ == "__main__":
    main()

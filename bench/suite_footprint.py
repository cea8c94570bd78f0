"""Install footprint rows of bench/run.py: what a user's `pip install` brings, counted and weighed.

Each install goes into its own fresh venv (no pip, setuptools or wheel in it: pip runs from smtrain's venv
with ``--python``), with pip's ordinary configuration (this machine's local index and find-links, then
PyPI); the figures are the installed distributions (``importlib.metadata`` in that venv) and the bytes
under its site-packages. Installs:

- smtrain's runtime install (``pip install REPO``: no dev extras);
- the same without sagemaker-core (smtrain ``--no-deps`` plus every runtime requirement but that one):
  the difference is what sagemaker-core costs smtrain;
- SDK v2 (``sagemaker>=2.200,<3``) and SDK v3 (``sagemaker>=3``), the peers.

Not timed, so not interleaved: a count and a size do not drift with the load.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common import REPO
from table import Goal, Row

INSTALL_TIMEOUT = 1500
HEAVY = ("paramiko", "cryptography", "pydantic", "protobuf", "omegaconf")  # what sagemaker-core brings, named


@dataclass(frozen=True)
class Install:
    dists: frozenset[str]
    megabytes: float


def measure(venv: Path, *installs: tuple[list[str], bool]) -> Install:
    """Run each ``(requirements, no_deps)`` pip install into a fresh venv at ``venv``: its distributions, size."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    for requirements, no_deps in installs:
        done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                               *(["--no-deps"] if no_deps else []), *requirements],
                              capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        if done.returncode != 0:
            tail = [line for line in done.stderr.splitlines() if "is ignored" not in line][-3:]
            raise RuntimeError(f"pip install {' '.join(requirements)} failed: {' / '.join(tail)}")
    script = ("import importlib.metadata as m, json, sysconfig; "
              "print(json.dumps({'site': sysconfig.get_paths()['purelib'], "
              "'dists': sorted({d.metadata['Name'].lower() for d in m.distributions()})}))")
    found = json.loads(subprocess.run([str(python), "-c", script], check=True, capture_output=True,
                                      text=True).stdout)
    return Install(frozenset(found["dists"]), tree_bytes(Path(found["site"])) / 1e6)


def tree_bytes(root: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def runtime_requirements(exclude: str) -> list[str]:
    """smtrain's runtime requirements (pyproject's ``dependencies``) but ``exclude``."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return [r for r in listed if re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() != exclude]


def footprint(runs: int, quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="smtrain-bench-footprint-") as scratch:
        work = Path(scratch)
        full = measure(work / "smtrain", ([str(REPO)], False))
        lean = measure(work / "lean", ([str(REPO)], True), (runtime_requirements("sagemaker-core"), False))
        peers = {"sdk2": measure(work / "sdk2", (["sagemaker>=2.200,<3"], False)),
                 "sdk3": measure(work / "sdk3", (["sagemaker>=3"], False))}
    only_core = sorted(full.dists - lean.dists)
    heavy = ", ".join(name for name in HEAVY if name in only_core)
    rows = []
    for key, label in (("sdk2", "SDK v2 `sagemaker>=2.200,<3`"), ("sdk3", "SDK v3 `sagemaker>=3`")):
        peer = peers[key]
        rows.append(Row("footprint", f"runtime install: distributions, vs {label}", len(full.dists), label,
                        len(peer.dists), unit="packages", goal=Goal("ratio_max", 1.0)))
        rows.append(Row("footprint", f"runtime install: size of site-packages, vs {label}", full.megabytes,
                        label, peer.megabytes, unit="MB", goal=Goal("ratio_max", 1.0)))
    rows.append(Row("footprint", "runtime install without sagemaker-core: distributions", len(lean.dists),
                    "with it", len(full.dists), unit="packages",
                    note=f"sagemaker-core alone brings {len(only_core)}: {', '.join(only_core)}"))
    rows.append(Row("footprint", "runtime install without sagemaker-core: size of site-packages", lean.megabytes,
                    "with it", full.megabytes, unit="MB",
                    note=f"{full.megabytes - lean.megabytes:.0f} MB for sagemaker-core and what it brings ({heavy} "
                         "among them), used for the scikit-learn image table and the SDK config's schema"))
    return rows

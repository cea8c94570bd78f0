"""The peers smtrain is measured against, each in its own virtual environment under bench/ (gitignored).

``ensure(name)`` creates the venv and installs the peer the first time (from PyPI), and returns
its bin/ directory; it raises ``PeerUnavailable`` with the reason when that cannot be done, so the
bench shows a skipped row instead of failing. A venv is reused while its requirements are unchanged
(recorded in ``.bench-requirements`` inside it).
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

BENCH = Path(__file__).resolve().parent
INSTALL_TIMEOUT = 1200


class PeerUnavailable(Exception):
    pass


def requirements(name: str) -> tuple[list[str], str]:
    """(pip requirements, a Python line that must run once installed) of one peer."""
    if name == "sdk2":  # also bench/setup_baselines.sh: SDK v2 and the AWS CLI v1, for submit and sync
        return ["sagemaker>=2.200,<3", "awscli"], "import sagemaker.sklearn, awscli"
    if name == "sdk3":
        return ["sagemaker>=3"], "from sagemaker.train import ModelTrainer"
    if name == "mlflow":
        # The same scikit-learn and pandas as smtrain's venv, so the fitted pipeline loads unchanged.
        return (["mlflow", f"scikit-learn=={version('scikit-learn')}", f"pandas=={version('pandas')}"],
                "import mlflow.sklearn, matplotlib")
    raise ValueError(f"unknown peer {name!r}")


def venv_dir(name: str) -> Path:
    return BENCH / f".venv-{name}"


def ensure(name: str) -> Path:
    """The bin/ directory of the peer's venv, installing it if needed."""
    packages, check = requirements(name)
    venv = venv_dir(name)
    marker = venv / ".bench-requirements"
    wanted = "\n".join(packages)
    python = venv / "bin" / "python"
    if python.exists() and marker.exists() and marker.read_text() == wanted and works(python, check):
        return python.parent
    print(f"[peers] installing {' '.join(packages)} into {venv} (once; may take minutes)", flush=True)
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages],
                              capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        raise PeerUnavailable(f"could not create {venv.name}: {exc}") from None
    if done.returncode != 0:
        tail = [line for line in done.stderr.splitlines() if "is ignored" not in line][-3:]
        raise PeerUnavailable(f"pip install {' '.join(packages)} failed: {' / '.join(tail)}")
    if not works(python, check):
        raise PeerUnavailable(f"installed, but `{check}` fails in {venv.name}")
    marker.write_text(wanted)
    return python.parent


def works(python: Path, check: str) -> bool:
    try:
        return subprocess.run([str(python), "-c", check], capture_output=True, timeout=300).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def package_versions(name: str) -> str:
    from machine import versions

    packages = {"sdk2": ("sagemaker", "awscli", "botocore"), "sdk3": ("sagemaker", "boto3"),
                "mlflow": ("mlflow", "scikit-learn", "uvicorn", "gunicorn")}[name]
    python = venv_dir(name) / "bin" / "python"
    return versions(python, packages) if python.exists() else "not installed"

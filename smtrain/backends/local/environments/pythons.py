"""Finding another Python on this machine: the image's own minor version, to build its environment with.

Looked for, in order: ``$SMTRAIN_FRAMEWORK_PYTHON`` (one interpreter, or several separated by
``os.pathsep``), ``pythonX.Y`` on ``PATH``, pyenv's ``$PYENV_ROOT/versions/X.Y.*`` (``~/.pyenv``), and
conda's environments (``~/.conda/environments.txt``, ``$CONDA_PREFIX`` and the envs of ``$CONDA_EXE``'s
installation). Each candidate is asked for its own version and ``sys.executable``: a pyenv shim on
``PATH`` answers only for the version pyenv has selected, and names the real interpreter when it does.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PYTHON_VARIABLE = "SMTRAIN_FRAMEWORK_PYTHON"
EXACT_VARIABLE = "SMTRAIN_FRAMEWORK_EXACT_PYTHON"
# venv and ensurepip too: the environment is a venv of that Python with its own pip (Debian's python3.12
# without python3.12-venv has neither, and is passed over).
PROBE = ("import ensurepip, json, platform, sys, venv; "
         "print(json.dumps([platform.python_version(), sys.executable]))")
PROBE_TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str  # "3.12.1"
    found_by: str  # "SMTRAIN_FRAMEWORK_PYTHON", "PATH", "pyenv" or "conda"

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


def exact_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the user asks for the image's exact Python even where the fast path would do."""
    value = (os.environ if environ is None else environ).get(EXACT_VARIABLE, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def find(minor: str, environ: Mapping[str, str] | None = None) -> Interpreter | None:
    """An interpreter of Python ``minor`` ("3.12") on this machine, or None."""
    environ = os.environ if environ is None else environ
    for path, found_by in candidates(minor, environ):
        answer = probe(path)
        if answer and ".".join(answer[0].split(".")[:2]) == minor:
            return Interpreter(answer[1], answer[0], found_by)
    return None


def candidates(minor: str, environ: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    for entry in filter(None, environ.get(PYTHON_VARIABLE, "").split(os.pathsep)):
        found = shutil.which(entry, path=environ.get("PATH")) or entry
        yield found, PYTHON_VARIABLE
    on_path = shutil.which(f"python{minor}", path=environ.get("PATH", os.defpath))
    if on_path:
        yield on_path, "PATH"
    for version_dir in _pyenv_versions(minor, environ):
        yield str(version_dir / "bin" / "python"), "pyenv"
    for env_dir in _conda_envs(environ):
        python = env_dir / "bin" / f"python{minor}"
        if python.exists():
            yield str(python), "conda"


def where_looked(minor: str, environ: Mapping[str, str] | None = None) -> str:
    """For an error: the places searched for Python ``minor``."""
    environ = os.environ if environ is None else environ
    return (f"${PYTHON_VARIABLE}{' (' + environ[PYTHON_VARIABLE] + ')' if environ.get(PYTHON_VARIABLE) else ''}, "
            f"python{minor} on PATH, {_pyenv_root(environ)}/versions/{minor}.*, conda environments")


def install_hint(minor: str) -> str:
    return (f"install Python {minor} (`pyenv install {minor}` or `conda create -n py{minor.replace('.', '')} "
            f"python={minor}`), or point {PYTHON_VARIABLE} at one")


@cache
def probe(path: str) -> tuple[str, str] | None:
    """(version, sys.executable) of the interpreter at ``path``; None when it does not answer."""
    try:
        done = subprocess.run([path, "-c", PROBE], capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS,
                              check=False, env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})
        version, executable = json.loads(done.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError, TypeError):
        return None
    return (str(version), str(executable)) if done.returncode == 0 else None


def _pyenv_root(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("PYENV_ROOT") or Path(environ.get("HOME") or Path.home()) / ".pyenv")


def _pyenv_versions(minor: str, environ: Mapping[str, str]) -> list[Path]:
    """``versions/3.12.*`` with a plain patch number, newest first."""
    versions = _pyenv_root(environ) / "versions"
    pattern = re.compile(rf"{re.escape(minor)}\.(\d+)")
    try:
        found = [(int(m[1]), d) for d in versions.iterdir() if (m := pattern.fullmatch(d.name))]
    except OSError:
        return []
    return [d for _, d in sorted(found, reverse=True)]


def _conda_envs(environ: Mapping[str, str]) -> list[Path]:
    envs: list[Path] = []
    home = Path(environ.get("HOME") or Path.home())
    with contextlib.suppress(OSError):
        envs += [Path(line.strip()) for line in (home / ".conda" / "environments.txt").read_text().splitlines()
                 if line.strip()]
    if environ.get("CONDA_PREFIX"):
        envs.append(Path(environ["CONDA_PREFIX"]))
    if environ.get("CONDA_EXE"):
        root = Path(environ["CONDA_EXE"]).parent.parent
        envs.append(root)
        with contextlib.suppress(OSError):
            envs += sorted((root / "envs").iterdir())
    return list(dict.fromkeys(envs))

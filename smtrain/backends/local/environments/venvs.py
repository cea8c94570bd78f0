"""Cached environments for a job's ``requirements.txt``.

The toolkit runs ``pip install -r requirements.txt`` into the container's
Python. Locally that would change the user's own environment, so smtrain
installs into a virtual environment layered on the current interpreter: a
``.pth`` file makes the current site-packages visible after the venv's own
(pip included), so only what the file adds or pins differently gets
installed. Environments are keyed by the file's hash and the interpreter,
built in a temporary directory and renamed into place only once pip
succeeded, so a failed install never leaves a half environment to reuse.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import site
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

COMPLETE_MARKER = ".smtrain-complete"
LAYER_FILE = "_smtrain_parent_site.pth"

# Runs a command (argv, cwd) with its output going to the job log; returns the exit code.
Runner = Callable[[Sequence[str], Path], int]


class InstallFailed(Exception):
    def __init__(self, command: Sequence[str], exit_code: int) -> None:
        self.command = list(command)
        self.exit_code = exit_code
        super().__init__(f"{' '.join(command)} exited with {exit_code}")


def venv_key(requirements: bytes, python: str = sys.executable, layer: Sequence[str] | None = None) -> str:
    digest = hashlib.sha256()
    for part in (requirements, python.encode(), "\0".join(parent_site_dirs() if layer is None else layer).encode()):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def parent_site_dirs() -> list[str]:
    """The current interpreter's site-packages (and user site, when enabled)."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        dirs.append(site.getusersitepackages())
    return dirs


def layer_dirs(base: Path | None) -> list[str]:
    """What a new environment is layered on: a base environment (whose own layer file chains on to
    this interpreter's), or this interpreter's site-packages."""
    return [str(site_packages(base))] if base is not None else parent_site_dirs()


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(requirements: Path, venvs_dir: Path, run: Runner, base: Path | None = None,
                python: str = sys.executable) -> Path:
    """The interpreter of the environment for ``requirements`` (layered on ``base``, whose interpreter
    is ``python``), built on first use."""
    layer = layer_dirs(base)
    venv = venvs_dir / venv_key(requirements.read_bytes(), python=python, layer=layer)
    install = [["-m", "pip", "install", "-r", str(requirements)]]
    return build_once(venv, layer, install, run, cwd=requirements.parent, note=str(requirements), python=python)


def build_once(
    venv: Path, layer: Sequence[str], pip_commands: Sequence[Sequence[str]], run: Runner, *,
    cwd: Path, note: str = "", finish: Callable[[Path], None] | None = None, python: str = sys.executable,
) -> Path:
    """The interpreter of ``venv``: if incomplete, built in a temporary directory next to it by running
    each of ``pip_commands`` (arguments to its Python) and ``finish``, then renamed into place.
    ``python`` makes the venv; with no ``layer`` it has its own pip."""
    if (venv / COMPLETE_MARKER).is_file():
        return venv_python(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    building = venv.parent / f".build-{venv.name}-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        _create_layered_venv(building, layer, python)
        for arguments in pip_commands:
            command = [str(venv_python(building)), *arguments]
            code = run(command, cwd)
            if code != 0:
                raise InstallFailed(command, code)
        if finish is not None:
            finish(building)
        _relocate_scripts(building, venv)
        (building / COMPLETE_MARKER).write_text(note + "\n")
        _publish(building, venv)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return venv_python(venv)


def _create_layered_venv(path: Path, layer: Sequence[str], python: str = sys.executable) -> None:
    pip = ["--without-pip"] if layer else []  # a layered venv uses the pip of what it is layered on
    command = [python, "-m", "venv", *pip, str(path)]
    done = subprocess.run(command, check=False, capture_output=True)
    if done.returncode != 0:
        raise InstallFailed(command, done.returncode)
    if not layer:
        return
    # "import" lines in a .pth file run at start-up; addsitedir also processes the
    # parent's own .pth files (editable installs, a base environment's layer), which a plain path line would not.
    lines = [f"import site; site.addsitedir({d!r})" for d in layer]
    (site_packages(path) / LAYER_FILE).write_text("\n".join(lines) + "\n")


def site_packages(venv: Path) -> Path:
    """The venv's site-packages: its own Python's (a venv of another Python has one ``lib/pythonX.Y``)."""
    own = sorted((venv / "lib").glob("python3.*/site-packages")) if (venv / "lib").is_dir() else []
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    path = own[0] if len(own) == 1 else venv / "lib" / version / "site-packages"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _relocate_scripts(building: Path, final: Path) -> None:
    """Console scripts pip wrote name the build directory in their ``#!`` line: point them at the final one."""
    old, new = str(building).encode(), str(final).encode()
    for script in (building / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        content = script.read_bytes()
        if content.startswith(b"#!") and old in content.split(b"\n", 1)[0]:
            script.write_bytes(content.replace(old, new, 1))


def _publish(building: Path, final: Path) -> None:
    try:
        os.rename(building, final)
    except OSError:
        # Another job built the same environment meanwhile, or a stale incomplete one is in the way.
        if (final / COMPLETE_MARKER).is_file():
            return
        shutil.rmtree(final, ignore_errors=True)
        os.rename(building, final)

"""`smtrain init [DIR]`: a working project from the packaged example.

The wheel ships the example (``template/``): the penguins training and serving
script, its notebook and a test of it, ``smtrain.toml``, ``.env.example`` and a
``.gitignore``. The project has the checkout's layout, so every command in the
README and every ``next:`` hint runs in it as written. Nothing is overwritten
without ``force``, and the files appear together or not at all: each is
written into a staging folder first, then renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from smtrain.core.errors import UsageError

ENTRY_POINT = Path("entry_points") / "penguins.py"
# Where each packaged file goes in the project (dotfiles are stored without the dot: packaging tools skip them).
FILES = {
    ENTRY_POINT: "entry_points/penguins.py",
    Path("notebooks") / "penguins.ipynb": "notebooks/penguins.ipynb",
    Path("tests") / "test_penguins.py": "tests/test_penguins.py",
    Path("smtrain.toml"): "smtrain.toml",
    Path(".env.example"): "env.example",
    Path(".gitignore"): "gitignore",
}


def template_file(name: str) -> Path:
    """The packaged copy of ``name`` (a real file: the wheel is installed unpacked)."""
    return Path(str(resources.files("smtrain.project").joinpath("template", *name.split("/"))))


def packaged_source_dir() -> Path:
    """The folder holding the packaged ``penguins.py`` alone, as ``--source-dir`` takes it."""
    return template_file(FILES[ENTRY_POINT]).parent


def init_project(folder: Path, *, force: bool = False) -> list[Path]:
    """Write the example project into ``folder`` (created if missing); the paths written, relative to it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a folder", where="init", hint="give a folder to create or fill")
    existing = [relative for relative in FILES if os.path.lexists(folder / relative)]
    if existing and not force:
        raise UsageError(f"{', '.join(str(p) for p in existing)} already exist(s) in {folder}; nothing was written",
                         where="init", hint="pass --force to overwrite them, or choose another folder")
    blocked = [p for p in {r.parent for r in FILES} if os.path.lexists(folder / p) and not (folder / p).is_dir()]
    if blocked:
        raise UsageError(f"{', '.join(map(str, blocked))} in {folder} is not a folder; nothing was written",
                         where="init", hint="move it away, or choose another folder")
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".smtrain-init-", dir=folder))
    try:
        for relative, name in FILES.items():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template_file(name), staging / relative)
        for relative in FILES:
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / relative, folder / relative)  # a link in the way is replaced, never followed
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return list(FILES)


def next_steps(folder: Path, here: Path) -> str:
    """What to run next, from where the user stands."""
    lines = ["next:"]
    if folder.resolve() != here.resolve():
        lines.append(f"  cd {_shell_path(folder, here)}")
    lines += [
        "  smtrain quickstart                # prepare, train, deploy, predict, tear down: local, no AWS account",
        f"  $EDITOR {ENTRY_POINT}   # your model; then smtrain quickstart again",
        "  python -m pytest -q tests         # the entry point's test (pip install pytest)",
        "  jupyter lab notebooks/penguins.ipynb  # the same from Python (pip install jupyterlab 'smtrain[plot]')",
    ]
    return "\n".join(lines)


def _shell_path(folder: Path, here: Path) -> str:
    import shlex

    try:
        shown = os.path.relpath(folder.resolve(), here.resolve())
    except ValueError:
        shown = str(folder.resolve())
    return shlex.quote(shown)

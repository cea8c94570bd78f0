"""What a run records when it is submitted: its git commit, versions and user tags.

They travel as tags of ``CreateTrainingJob`` (the local backend keeps them in
its record, SageMaker keeps them with the job), so both backends answer the
same question the same way. Tags are the SageMaker ones: keys up to 128
characters, values up to 256, letters, digits, spaces and ``_.:/=+-@``.
"""

from __future__ import annotations

import platform
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from smtrain.core.errors import UsageError

PREFIX = "smtrain:"
GIT_COMMIT = "smtrain:git-commit"
GIT_DIRTY = "smtrain:git-dirty"
GIT_BRANCH = "smtrain:git-branch"
VERSION = "smtrain:version"
PYTHON = "smtrain:python"
SOURCE_DIR = "smtrain:source-dir"
GIT_TIMEOUT_SECONDS = 5.0
TAG_PATTERN = re.compile(r"^[\w\s.:/=+\-@]*$")
RESERVED_PREFIXES = ("aws:", PREFIX)


def check_user_tags(tags: Mapping[str, str], where: str = "--tag") -> dict[str, str]:
    """User tags as SageMaker accepts them; smtrain's and AWS's prefixes are reserved."""
    for key, value in tags.items():
        value = str(value)
        if not key or len(key) > 128 or len(value) > 256:
            raise UsageError(f"tag {key!r}: keys are 1-128 characters, values up to 256", where=where,
                             hint="shorten the tag")
        if not TAG_PATTERN.match(key) or not TAG_PATTERN.match(value):
            raise UsageError(f"tag {key}={value!r} has a character SageMaker refuses", where=where,
                             hint="use letters, digits, spaces and _ . : / = + - @")
        if key.lower().startswith(RESERVED_PREFIXES):
            raise UsageError(f"tag key {key!r} uses a reserved prefix", where=where,
                             hint="smtrain: and aws: are reserved; choose another key")
    return {key: str(value) for key, value in tags.items()}


def run_tags(source_dir: Path) -> dict[str, str]:
    """smtrain's own tags for a run of ``source_dir``: git commit, dirty flag, branch, versions, and
    where the source came from (so ``smtrain logs`` shows tracebacks in the user's own files)."""
    from importlib.metadata import version

    tags = {VERSION: version("smtrain"), PYTHON: platform.python_version()}
    tags.update(git_state(source_dir))
    where = source_dir_value(source_dir)
    if where:
        tags[SOURCE_DIR] = where
    return tags


def source_dir_value(source_dir: Path, project: Path | None = None) -> str:
    """``source_dir`` relative to the project (absolute when outside it); "" when no tag can hold it.

    Relative inside the project, so the tag names no one's home folder."""
    from smtrain.core.config import find_project

    here = Path.cwd()
    project = (project or find_project(here) or here).resolve()
    folder = source_dir.resolve()
    value = folder.relative_to(project).as_posix() if folder.is_relative_to(project) else folder.as_posix()
    value = value or "."
    return value if len(value) <= 256 and TAG_PATTERN.match(value) else ""


def source_dir_from(tags: Mapping[str, str], project: Path | None = None) -> Path | None:
    """The folder a run's source came from, as a path from the current folder (None if not recorded).

    A relative tag is read from the project smtrain finds from here, as at submission."""
    import os

    from smtrain.core.config import find_project

    value = tags.get(SOURCE_DIR, "")
    if not value:
        return None
    here = Path.cwd()
    folder = (project or find_project(here) or here) / value
    if not folder.is_dir():  # seen from another project, or moved since: no guessing
        return None
    relative = os.path.relpath(folder, here)
    outside = relative == os.pardir or relative.startswith(os.pardir + os.sep)
    return folder.resolve() if outside else Path(relative)


def git_state(folder: Path) -> dict[str, str]:
    """The commit, dirty flag and branch of the git work tree holding ``folder``; {} without git or a repo."""
    commit = _git(folder, "rev-parse", "HEAD")
    if not commit:
        return {}
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    state = {GIT_COMMIT: commit, GIT_DIRTY: "true" if status else "false"}
    branch = _git(folder, "symbolic-ref", "--short", "-q", "HEAD")
    if branch and TAG_PATTERN.match(branch) and len(branch) <= 256:
        state[GIT_BRANCH] = branch
    return state


def is_ancestor(folder: Path, commit: str, branch: str) -> bool:
    """Whether ``commit`` is on ``branch`` (reachable from it) in the repository holding ``folder``."""
    return _git(folder, "merge-base", "--is-ancestor", commit, branch, want_status=True) == "0"


def _git(folder: Path, *args: str, want_status: bool = False) -> str:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if want_status:
        return str(done.returncode)
    return done.stdout.strip() if done.returncode == 0 else ""



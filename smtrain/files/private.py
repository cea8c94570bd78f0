"""Owner-only folders and files: the local store holds job records with ``--env`` values, so it is
0700/0600 from the first command that creates any of it, whichever command that is."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import IO, Any

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(path: Path) -> None:
    """``mkdir -p`` where each folder it creates is 0700 (``Path.mkdir(parents=True)`` gives the parents
    the umask's mode). Existing folders keep theirs."""
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is masked by the umask


def open_private(path: Path, mode: str) -> IO[Any]:
    """``open(path, mode)``, creating the file 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, FILE_MODE), mode)


@cache
def process_umask() -> int:
    """This process's umask (set once at its start: the store's processes set 077 before they exec). Reading
    it means setting it: for that moment it is 077, stricter, never looser."""
    old = os.umask(0o077)
    os.umask(old)
    return old


def private_mode(mode: int) -> int:
    """A file's mode with group and other bits removed (the owner's, executable bit included, kept)."""
    return (mode & 0o700) | FILE_MODE

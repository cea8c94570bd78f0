"""The store's lock: a file beside ``state.db`` that every connection to the index holds shared.

SQLite's own locks cover rows and transactions, not the file itself: they
cannot stop a reader from opening ``state.db`` while ``smtrain doctor
--rebuild`` swaps a new index in, and the switch to WAL mode on a brand-new
store answers "database is locked" at once, outside the busy timeout. So:

- every connection (``StateDB``, the read-only listing) holds ``state.db.lock``
  shared while it is open;
- the first set-up of a new store (WAL mode, tables) and a rebuild hold it
  exclusive: nobody else has the index open meanwhile, so readers see the old
  index or the new one, never a partial one.

The lock file is created once and never moved or deleted (a lock on a file that
was replaced would lock nothing). ``flock`` is released by the kernel when a
process dies, so a crashed holder never leaves the store locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from smtrain.core.errors import StoreError

WAIT_SECONDS = 120.0  # a rebuild of 10,000 runs takes seconds; a reader waits at most this long


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


@contextmanager
def store_lock(state_path: Path, *, exclusive: bool = False, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold the store's lock (shared unless ``exclusive``) for the block. In a home that cannot hold the lock
    file (read-only) there is nobody to exclude: the block runs without it."""
    path = lock_path(state_path)
    if not exclusive and not path.exists() and not state_path.exists():
        yield  # no store: nothing to read, and a reader creates nothing
        return
    descriptor = _open(path)
    if descriptor is None:
        yield
        return
    try:
        _acquire(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, wait, state_path)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _open(path: Path) -> int | None:
    """The lock file, created if missing; None where it cannot be (a read-only home), and then SQLite itself
    names the problem when the index is written."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        try:
            return os.open(path, os.O_RDONLY)
        except OSError:
            return None


def _acquire(descriptor: int, mode: int, wait: float, state_path: Path) -> None:
    deadline = time.monotonic() + wait
    pause = 0.002
    while True:
        try:
            fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreError(f"the store stayed locked for {wait:.0f} s", where=str(state_path),
                                 hint="another smtrain process holds it (`smtrain doctor --rebuild`?); "
                                      "run the command again when it has finished") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.01)

"""Content digests of local files, remembered between syncs so an unchanged file is not read again.

A sync compares content (SHA-256, and the MD5 that a plain S3 ETag is), and
reading every file of a large dataset for that costs more than the whole
unchanged re-sync otherwise does. So each file's digests are kept in
``$XDG_CACHE_HOME/smtrain/digests.db`` (``~/.cache`` by default; one SQLite
table, the file mode 0600), keyed by the file's real path and valid only while
its device, inode, size, modification time and change time (nanoseconds) are
all unchanged, as git's index trusts a file's stat data. Rewriting a file in
place, even to the same size with its old mtime restored, changes its ctime;
replacing it changes its inode: either way it is read again.

A file changed within the same clock tick as it was hashed could keep its
stat data (git's "racily clean" case), so digests of a file modified less
than :data:`RACY_SECONDS` before it was read are not kept. The cache is only
ever a shortcut: one that cannot be opened or read (damaged, locked, a
read-only disk) is set aside or ignored, and the files are read as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RACY_SECONDS = 2.0
MAX_ENTRIES = 200_000  # beyond this, the entries least recently used go
_DAY = 86400
_SCHEMA = """CREATE TABLE IF NOT EXISTS digests (
    path TEXT PRIMARY KEY, stat TEXT NOT NULL, sha256 TEXT NOT NULL, md5 TEXT NOT NULL, used INTEGER NOT NULL
)"""
_BATCH = 500  # paths per SELECT (SQLite limits the parameters of one statement)


def stat_key(status: os.stat_result) -> str:
    """What must be unchanged for a remembered digest to hold."""
    return (f"{status.st_dev}:{status.st_ino}:{status.st_size}:{status.st_mtime_ns}:{status.st_ctime_ns}")


def default_path() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smtrain" / "digests.db"


@dataclass
class Digests:
    """One file's digests ("" until known) and the stat data they belong to."""

    path: Path
    stat: os.stat_result
    sha256: str = ""
    md5: str = ""
    learned: bool = False  # something new to remember
    racy: bool = False  # read too soon after a change to be remembered

    def learn(self, read_at_ns: int, *, sha256: str = "", md5: str = "") -> None:
        """Digests of the file's content, read from ``read_at_ns`` (``time.time_ns()``) on."""
        self.sha256 = sha256 or self.sha256
        self.md5 = md5 or self.md5
        self.learned = True
        changed_at = max(self.stat.st_mtime_ns, self.stat.st_ctime_ns)
        self.racy = self.racy or changed_at >= read_at_ns - int(RACY_SECONDS * 1e9)

    @property
    def worth_keeping(self) -> bool:
        return self.learned and not self.racy and bool(self.sha256)


def compute(reader: Any, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of the open file ``reader`` in one pass."""
    hashes = {name: hashlib.new(name) for name in algorithms}
    view = memoryview(bytearray(1024 * 1024))
    while size := reader.readinto(view):
        for hashed in hashes.values():
            hashed.update(view[:size])
    return {name: hashed.hexdigest() for name, hashed in hashes.items()}


class DigestCache:
    """The remembered digests; never raises for a cache it cannot use (it then remembers nothing)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> DigestCache:
        self._db = _open(self.path)
        return self

    def __exit__(self, *_: object) -> None:
        self._forget()

    def _forget(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def recall(self, files: list[Digests]) -> None:
        """Fill in the digests remembered for ``files`` whose stat data is unchanged."""
        if self._db is None:
            return
        by_path = {str(file.path): file for file in files}
        names = list(by_path)
        try:
            for start in range(0, len(names), _BATCH):
                batch = names[start:start + _BATCH]
                rows = self._db.execute(f"SELECT path, stat, sha256, md5 FROM digests WHERE path IN "
                                        f"({','.join('?' * len(batch))})", batch).fetchall()
                for path, key, sha256, md5 in rows:
                    file = by_path[path]
                    if key == stat_key(file.stat):
                        file.sha256, file.md5 = sha256, md5
        except sqlite3.Error:
            self._forget()  # unreadable after all: read the files

    def remember(self, files: list[Digests]) -> None:
        """Keep what was learned about ``files``; mark the rest as used today."""
        if self._db is None:
            return
        today = int(time.time()) // _DAY * _DAY
        learned = [(str(f.path), stat_key(f.stat), f.sha256, f.md5, today) for f in files if f.worth_keeping]
        try:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)", learned)
                self._db.executemany("UPDATE digests SET used = ? WHERE path = ? AND used < ?",
                                     [(today, str(f.path), today) for f in files if not f.learned and f.sha256])
                self._prune()
        except sqlite3.Error:
            return  # a cache that cannot be written only costs speed

    def _prune(self) -> None:
        assert self._db is not None
        (count,) = self._db.execute("SELECT count(*) FROM digests").fetchone()
        if count > MAX_ENTRIES:
            self._db.execute("DELETE FROM digests WHERE path IN (SELECT path FROM digests ORDER BY used LIMIT ?)",
                             (count - MAX_ENTRIES,))


def _open(path: Path) -> sqlite3.Connection | None:
    """The cache's database, made if missing; a damaged one is replaced; None when it cannot be had."""
    for attempt in range(2):
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600))
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
            db = sqlite3.connect(path, timeout=5)
            try:
                db.execute(_SCHEMA)
                db.execute("SELECT path, stat, sha256, md5, used FROM digests LIMIT 1").fetchall()
                return db
            except sqlite3.Error:
                db.close()
                raise
        except sqlite3.Error as exc:
            if attempt or not _damaged(exc):
                return None  # locked, read-only, ...: this sync goes without
            _set_aside(path)  # not a database of ours: start afresh
        except OSError:
            return None
    return None


def _damaged(exc: sqlite3.Error) -> bool:
    message = str(exc).lower()
    return any(marker in message for marker in ("not a database", "malformed", "corrupt", "no such", "has no column"))


def _set_aside(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + "-journal"), path.with_name(path.name + "-wal")):
        with contextlib.suppress(OSError):
            candidate.unlink()

"""Durable state of the local backend: one SQLite table of resources.

Each resource (training job, model, endpoint config, endpoint, model package
group, model package, the runtime gateway) is one row: its kind, its name
and a JSON document shaped like the matching ``Describe*`` response, plus
private fields under the ``"_local"`` key (process ids, ports, paths).
Several processes (the CLI, job supervisors, servers) use the database at
once, so every write is one short transaction and WAL mode is on. Every
connection holds the store's lock shared; a new store is switched to WAL and
given its tables under it held exclusive (``store_lock.py``).

The database is an index: every write also saves the record as a file
(``records.py``) inside the same transaction, so a lost or damaged database
can be rebuilt (``smtrain doctor --rebuild``). A database that is missing,
empty, truncated or corrupt while records exist is refused with a
``StoreError`` naming the file, never silently started afresh. The database
and its WAL files are readable by the owner only: records hold ``--env`` values.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from smtrain.backends.local.store.lock import store_lock
from smtrain.backends.local.store.records import RecordFiles, dumps, private_dir
from smtrain.backends.local.store.run_index import ensure_run_index
from smtrain.core.errors import REBUILD_HINT, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, name)
)
"""
SQLITE_MAGIC = b"SQLite format 3\x00"
DAMAGE_MARKERS = ("not a database", "malformed", "corrupt")


class StateDB:
    """Resources by (kind, name); bodies are JSON-serialisable dicts."""

    def __init__(self, path: Path, files: RecordFiles | None = None, *, check: bool = True) -> None:
        self.path = path
        self.files = files
        if path.parent.exists() and not path.parent.is_dir():
            raise StoreError("the smtrain home is a file, not a folder", where=str(path.parent),
                             hint="set SMTRAIN_HOME (or --home) to a folder, or move that file away")
        private_dir(path.parent, path.parent)
        if check:
            self._refuse_damage()
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            # A new store: its folder may have been made moments ago by an upload, with the umask's mode.
            if path.parent.stat().st_mode & 0o077:
                path.parent.chmod(0o700)
        if is_wal(path):
            with self._connect() as db:
                self._set_up(db, check)
        else:  # a new store: switching to WAL needs the file to itself, which SQLite's busy timeout does not wait for
            with store_lock(path, exclusive=True), self._connect(locked=False) as db:
                db.execute("PRAGMA journal_mode=WAL")
                self._set_up(db, check)
        restrict_mode(path)

    def _set_up(self, db: sqlite3.Connection, check: bool) -> None:
        if check and not has_table(db) and self.files is not None and self.files.any_saved():
            raise self._damaged("it has no resources table, but job or endpoint records exist")
        db.execute(SCHEMA)
        ensure_run_index(db)  # the small row per job that `smtrain ls` reads

    def _refuse_damage(self) -> None:
        """A missing or empty file while records exist, or a file that is not a whole SQLite database."""
        size = self.path.stat().st_size if self.path.exists() else 0
        if size == 0:
            if self.files is not None and self.files.any_saved():
                state = "is missing" if not self.path.exists() else "is empty"
                raise self._damaged(f"the store's index {state}, but job or endpoint records exist")
            return
        problem = header_problem(self.path)
        if problem:
            raise self._damaged(problem)

    def _damaged(self, what: str) -> StoreError:
        return damaged(self.path, what)

    @contextmanager
    def _connect(self, *, locked: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection, holding the store's lock shared (see store_lock.py) unless the caller holds it."""
        with store_lock(self.path) if locked else nullcontext():
            try:
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            except sqlite3.Error as exc:
                raise self.translate(exc) from exc
            try:
                yield db
            except sqlite3.Error as exc:
                raise self.translate(exc) from exc
            finally:
                db.close()

    def translate(self, exc: sqlite3.Error) -> StoreError:
        """An SQLite error as a message naming the database and the fix."""
        return translate_error(self.path, exc)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute("SELECT body FROM resources WHERE kind=? AND name=?", (kind, name)).fetchone()
        return json.loads(row[0]) if row else None

    def list(self, kind: str) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute("SELECT body FROM resources WHERE kind=? ORDER BY rowid", (kind,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def rows(self) -> builtins.list[tuple[str, str, dict[str, Any]]]:
        """Every resource as (kind, name, body)."""
        with self._connect() as db:
            rows = db.execute("SELECT kind, name, body FROM resources ORDER BY rowid").fetchall()
        return [(kind, name, json.loads(body)) for kind, name, body in rows]

    def insert(
        self, kind: str, name: str, body: dict[str, Any], *, before_save: Callable[[], None] | None = None
    ) -> bool:
        """Add a resource; False if one of that kind and name exists already.

        ``before_save`` runs once the name is known to be free, under the write lock; what it raises
        undoes the insert."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("INSERT INTO resources VALUES (?, ?, ?)", (kind, name, dumps(body)))
            except sqlite3.IntegrityError:
                db.execute("ROLLBACK")
                return False
            if before_save is not None:
                before_save()
            self._save(kind, name, body)
            db.execute("COMMIT")
        return True

    def put(self, kind: str, name: str, body: dict[str, Any]) -> None:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT OR REPLACE INTO resources VALUES (?, ?, ?)", (kind, name, dumps(body)))
            self._save(kind, name, body)
            db.execute("COMMIT")

    def update(
        self, kind: str, name: str, change: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any] | None:
        """Read, modify in place with ``change``, write back: atomically."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT body FROM resources WHERE kind=? AND name=?", (kind, name)).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                return None
            body = json.loads(row[0])
            change(body)
            db.execute("UPDATE resources SET body=? WHERE kind=? AND name=?", (dumps(body), kind, name))
            self._save(kind, name, body)
            db.execute("COMMIT")
        return body

    def delete(self, kind: str, name: str) -> bool:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute("DELETE FROM resources WHERE kind=? AND name=?", (kind, name))
            if self.files is not None:
                self.files.remove(kind, name)
            db.execute("COMMIT")
        return cursor.rowcount > 0

    def _save(self, kind: str, name: str, body: dict[str, Any]) -> None:
        """The record file, written while the row's write lock is held, so files never go back in time."""
        if self.files is not None:
            self.files.save(kind, name, body)


def has_table(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='resources'").fetchone() is not None


def is_wal(path: Path) -> bool:
    """Whether the database at ``path`` is in WAL mode already (its header's read and write versions are 2)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return header.startswith(SQLITE_MAGIC) and header[18:20] == b"\x02\x02"


def header_problem(path: Path) -> str:
    """Why ``path`` is not a whole SQLite database, read from its header; "" if it looks whole."""
    with open(path, "rb") as handle:
        header = handle.read(100)
    if not header.startswith(SQLITE_MAGIC):
        return "the store's index is not an SQLite database (its header is damaged)"
    if len(header) < 100:
        return "the store's index is truncated (shorter than its header)"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]
    size = path.stat().st_size
    if page_size < 512 or size % page_size:
        return f"the store's index is truncated ({size} bytes is not a whole number of {page_size}-byte pages)"
    if header_valid and size < pages * page_size:
        return f"the store's index is truncated ({size} bytes, its header says {pages * page_size})"
    return ""


def restrict_mode(path: Path) -> None:
    """The database and its WAL files: owner only, whatever the umask or an older smtrain left."""
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)
        except FileNotFoundError:
            continue


def public(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the API returns it: without smtrain's private fields."""
    return {k: v for k, v in body.items() if not k.startswith("_")}


def translate_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """An SQLite error on the store's index ``path`` as a message naming the file and the fix."""
    message = str(exc)
    lower = message.lower()
    folder = path.parent
    if any(marker in lower for marker in DAMAGE_MARKERS):
        return damaged(path, f"the store's index is damaged (sqlite: {message})")
    if "readonly" in lower or "read-only" in lower or "unable to open" in lower:
        return StoreError(f"cannot write the store's index (sqlite: {message})", where=str(path),
                          hint=f"make {folder} and its files writable for your user (chmod -R u+rwX), "
                               "or set SMTRAIN_HOME to a writable folder")
    if "full" in lower:
        return StoreError(f"no space left for the store's index (sqlite: {message})", where=str(path),
                          hint=f"free disk space where {folder} lives, then run the command again")
    if "i/o error" in lower:  # what SQLite reports when its WAL index cannot grow on a full disk
        return StoreError(f"the disk refused a read or write (sqlite: {message})", where=str(path),
                          hint=f"free disk space where {folder} lives (`df -h {folder}`) and check the disk, "
                               "then run the command again")
    if "locked" in lower or "busy" in lower:
        return StoreError(f"the store is busy (sqlite: {message})", where=str(path),
                          hint="another smtrain process holds it; run the command again in a moment")
    return StoreError(f"the store's index failed (sqlite: {message})", where=str(path), hint=REBUILD_HINT)


def existing_store(path: Path) -> bool:
    """For readers that must not create a store: whether the index ``path`` exists and looks whole.

    Raises, as every command does, when the home is a file, or the index is missing, empty or
    damaged while records on disk show there was one."""
    home = path.parent
    if home.exists() and not home.is_dir():
        raise StoreError("the smtrain home is a file, not a folder", where=str(home),
                         hint="set SMTRAIN_HOME (or --home) to a folder, or move that file away")
    size = path.stat().st_size if path.is_file() else 0
    if not size:
        if RecordFiles(home).any_saved():
            raise damaged(path, f"the store's index is {'empty' if path.is_file() else 'missing'}, "
                                "but job or endpoint records exist")
        return False
    problem = header_problem(path)
    if problem:
        raise damaged(path, problem)
    return True


def check_tables(path: Path, db: sqlite3.Connection) -> None:
    if not has_table(db):
        raise damaged(path, "it has no resources table, but job or endpoint records exist")


def damaged(path: Path, what: str) -> StoreError:
    return StoreError(what, where=str(path), hint=REBUILD_HINT)

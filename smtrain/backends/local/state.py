"""Durable state of the local backend: one SQLite table of resources.

Each resource (training job, model, endpoint config, endpoint, model package
group, model package, the runtime gateway) is one row: its kind, its name
and a JSON document shaped like the matching ``Describe*`` response, plus
private fields under the ``"_local"`` key (process ids, ports, paths).
Several processes (the CLI, job supervisors, servers) use the database at
once, so every write is one short transaction and WAL mode is on.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smtrain.runs.index import ensure_run_index

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, name)
)
"""


class StateDB:
    """Resources by (kind, name); bodies are JSON-serialisable dicts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)
            ensure_run_index(db)  # the small row per job that `smtrain ls` reads

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute("SELECT body FROM resources WHERE kind=? AND name=?", (kind, name)).fetchone()
        return json.loads(row[0]) if row else None

    def list(self, kind: str) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute("SELECT body FROM resources WHERE kind=? ORDER BY rowid", (kind,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def insert(self, kind: str, name: str, body: dict[str, Any]) -> bool:
        """Add a resource; False if one of that kind and name exists already."""
        with self._connect() as db:
            try:
                db.execute("INSERT INTO resources VALUES (?, ?, ?)", (kind, name, json.dumps(body)))
            except sqlite3.IntegrityError:
                return False
        return True

    def put(self, kind: str, name: str, body: dict[str, Any]) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO resources VALUES (?, ?, ?)", (kind, name, json.dumps(body)))

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
            db.execute("UPDATE resources SET body=? WHERE kind=? AND name=?", (json.dumps(body), kind, name))
            db.execute("COMMIT")
        return body

    def delete(self, kind: str, name: str) -> bool:
        with self._connect() as db:
            cursor = db.execute("DELETE FROM resources WHERE kind=? AND name=?", (kind, name))
        return cursor.rowcount > 0


def public(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the API returns it: without smtrain's private fields."""
    return {k: v for k, v in body.items() if not k.startswith("_")}

"""The local store as the run store reads it: the one interface between ``smtrain.runs`` and the local backend.

Read-only, and cheap to import (``smtrain ls`` starts here): a connection that creates nothing, whether a
job's supervisor still runs, a job's settled description, and the metric history file the supervisor
appends to. ``smtrain.runs`` imports nothing else of the local backend, and the backend nothing of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtrain.core import metric_values

if TYPE_CHECKING:  # imported where used: `smtrain ls` with no store needs neither
    import sqlite3

HISTORY_FILE = "metrics.jsonl"


def state_file(home: Path) -> Path:
    return home / "state.db"


def store_exists(home: Path) -> bool:
    from smtrain.backends.local.store.state import existing_store

    return existing_store(state_file(home))


@contextmanager
def read_only(home: Path) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection to the store, or None when there is no store (nothing is created)."""
    if not home.exists():  # no store, no records: nothing to check (and no SQLite to load)
        yield None
        return
    import sqlite3

    from smtrain.backends.local.store.lock import store_lock
    from smtrain.backends.local.store.state import check_tables, existing_store, translate_error

    path = state_file(home)
    with store_lock(path):  # a rebuild swaps the index under it: the old one or the new one, never half
        if not existing_store(path):
            yield None
            return
        try:
            with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)) as db:
                check_tables(path, db)
                yield db
        except sqlite3.Error as exc:
            raise translate_error(path, exc) from exc


def has_run_index(db: sqlite3.Connection) -> bool:
    """Whether the store keeps the small per-job rows ``ls`` reads (see run_index.py), for every kind."""
    from smtrain.backends.local.store.run_index import has_run_index as indexed

    return indexed(db)


def supervisor_alive(body: dict[str, Any]) -> bool:
    """Whether the job's supervisor still runs (no pid yet: the job is being created, so it counts as alive)."""
    from smtrain.backends.local.jobs.processes import is_alive

    pid = int((body.get("_local") or {}).get("supervisor_pid", 0) or 0)
    return not pid or is_alive(pid)


def settled_description(home: Path, name: str) -> dict[str, Any] | None:
    """A training job's description as the local API gives it: a job whose supervisor died gets its final status."""
    from smtrain.backends.local.service import LocalSageMaker
    from smtrain.backends.local.store.home import LocalHome

    try:
        return dict(LocalSageMaker(LocalHome(home)).describe_training_job(TrainingJobName=name))
    except Exception:
        return None


def local_service(home: Path, region: str) -> Any:
    """The local SageMaker service over ``home`` (for reads the run store makes through the API: the registry)."""
    from smtrain.backends.local.service import LocalSageMaker
    from smtrain.backends.local.store.home import LocalHome

    return LocalSageMaker(LocalHome(home), region=region)


def history_file(home: Path, name: str) -> Path:
    """The job's metric history: one JSON line per matched log line (name, value, timestamp)."""
    return home / "jobs" / name / HISTORY_FILE


def append_history(home: Path, name: str, points: list[dict[str, Any]]) -> None:
    """Called by the job supervisor for each log line that matched a metric definition."""
    with open(history_file(home, name), "a", encoding="utf-8") as history:
        history.write("".join(metric_values.dumps(point) + "\n" for point in points))

"""The run index: one small row per job of every kind, kept by SQLite itself.

``state.db`` holds each job as a full ``DescribeTrainingJob`` document
(~4 KB with transitions and requests). Listing 10,000 of those parses 40 MB.
Triggers keep a second table, ``run_rows``, in step with every insert,
update and delete of a job, in the same transaction: its name, creation
time, status and a compact JSON row of what ``ls`` shows. No writer has to
remember it, and a store made before the index existed is filled in the
first time any smtrain process opens it for writing.

Standard library only (and the kinds, which are plain data): the job supervisor opens the store too.
"""

from __future__ import annotations

import sqlite3

from smtrain.planning.kinds import KINDS, JobKind

_DROPPED_HYPERPARAMETERS = ", ".join(f"'$.sagemaker_{key}'" for key in (
    "program", "submit_directory", "container_log_level", "job_name", "region"))
SCHEMA = """
CREATE TABLE IF NOT EXISTS run_rows (
    kind TEXT NOT NULL, name TEXT NOT NULL, created TEXT, status TEXT, row TEXT NOT NULL, PRIMARY KEY (kind, name)
);
CREATE INDEX IF NOT EXISTS run_rows_by_created ON run_rows (created);
"""
# The index before it held every kind: training jobs only, keyed by name.
_OLD_TRIGGERS = ("run_rows_insert", "run_rows_update", "run_rows_delete")


def _path(key: str) -> str:
    return f"json_extract(NEW.body, '$.{key}')" if key else "NULL"


def row(kind: JobKind) -> str:
    """The small JSON row ``ls`` reads for one job of ``kind`` (``NEW`` is its ``resources`` row)."""
    instance = next((column.path for column in kind.columns if column.header == "instance"), "")
    return f"""json_object(
    'Name', NEW.name,
    'Kind', '{kind.key}',
    'Status', {_path(kind.status_key)},
    'CreationTime', json_extract(NEW.body, '$.CreationTime'),
    'StartTime', {_path(kind.start_time_key)},
    'EndTime', {_path(kind.end_time_key)},
    'HyperParameters', json_remove(json_extract(NEW.body, '$.HyperParameters'), {_DROPPED_HYPERPARAMETERS}),
    'sagemaker_program', json_extract(NEW.body, '$.HyperParameters.sagemaker_program'),
    'FinalMetricDataList', json_extract(NEW.body, '$.FinalMetricDataList'),
    'Tags', json_extract(NEW.body, '$._local.tags'),
    'ModelArtifacts', json_extract(NEW.body, '$.ModelArtifacts'),
    'supervisor_pid', json_extract(NEW.body, '$._local.supervisor_pid'),
    'InstanceType', {_path(instance)}
)"""


def _values(kind: JobKind) -> str:
    return f"'{kind.arn_type}', NEW.name, json_extract(NEW.body, '$.CreationTime'), {_path(kind.status_key)}, " \
           f"{row(kind)}"


def trigger_names(kind: JobKind) -> tuple[str, str, str]:
    slug = kind.arn_type.replace("-", "_")
    return f"run_rows_{slug}_insert", f"run_rows_{slug}_update", f"run_rows_{slug}_delete"


def kind_schema(kind: JobKind) -> list[str]:
    """The triggers that keep ``kind``'s rows in step, and the statement that fills them from existing jobs."""
    insert, update, delete = trigger_names(kind)
    upsert = f"INSERT OR REPLACE INTO run_rows VALUES ({_values(kind)})"
    when = f"NEW.kind = '{kind.arn_type}'"
    return [
        f"CREATE TRIGGER IF NOT EXISTS {insert} AFTER INSERT ON resources WHEN {when} BEGIN {upsert}; END",
        f"CREATE TRIGGER IF NOT EXISTS {update} AFTER UPDATE ON resources WHEN {when} BEGIN {upsert}; END",
        f"CREATE TRIGGER IF NOT EXISTS {delete} AFTER DELETE ON resources WHEN OLD.kind = '{kind.arn_type}' "
        f"BEGIN DELETE FROM run_rows WHERE kind = OLD.kind AND name = OLD.name; END",
        f"INSERT OR IGNORE INTO run_rows SELECT {_values(kind)} FROM resources AS NEW WHERE {when}",
    ]


def has_run_index(db: sqlite3.Connection) -> bool:
    """Whether every kind's rows are kept (a store written by an older smtrain, or before a kind existed, is not)."""
    wanted = {trigger_names(kind)[2] for kind in KINDS}
    found = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    return wanted <= found


def ensure_run_index(db: sqlite3.Connection) -> None:
    """Create the index and each kind's triggers if missing; fill it from existing jobs the first time.

    ``db`` is in autocommit mode. One immediate transaction: two processes opening an old store at once
    fill the index once."""
    if has_run_index(db):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = {name for (_, name, *_rest) in db.execute("PRAGMA table_info(run_rows)")}
        if columns and "kind" not in columns:  # the index of training jobs only: rebuilt for every kind
            for trigger in _OLD_TRIGGERS:
                db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            db.execute("DROP TABLE run_rows")
        for statement in filter(str.strip, SCHEMA.split(";")):
            db.execute(statement)
        for kind in KINDS:
            for statement in kind_schema(kind):
                db.execute(statement)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise

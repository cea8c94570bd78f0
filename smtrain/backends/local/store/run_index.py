"""The run index: one small row per training job, kept by SQLite itself.

``state.db`` holds each job as a full ``DescribeTrainingJob`` document
(~4 KB with transitions and requests). Listing 10,000 of those parses 40 MB.
Triggers keep a second table, ``run_rows``, in step with every insert,
update and delete of a job, in the same transaction: its name, creation
time, status and a compact JSON row of what ``ls`` shows. No writer has to
remember it, and a store made before the index existed is filled in the
first time any smtrain process opens it for writing.

Standard library only: the job supervisor opens the store too.
"""

from __future__ import annotations

import sqlite3

_DROPPED_HYPERPARAMETERS = ", ".join(f"'$.sagemaker_{key}'" for key in (
    "program", "submit_directory", "container_log_level", "job_name", "region"))
ROW = f"""json_object(
    'TrainingJobName', NEW.name,
    'TrainingJobStatus', json_extract(NEW.body, '$.TrainingJobStatus'),
    'CreationTime', json_extract(NEW.body, '$.CreationTime'),
    'TrainingStartTime', json_extract(NEW.body, '$.TrainingStartTime'),
    'TrainingEndTime', json_extract(NEW.body, '$.TrainingEndTime'),
    'HyperParameters', json_remove(json_extract(NEW.body, '$.HyperParameters'), {_DROPPED_HYPERPARAMETERS}),
    'sagemaker_program', json_extract(NEW.body, '$.HyperParameters.sagemaker_program'),
    'FinalMetricDataList', json_extract(NEW.body, '$.FinalMetricDataList'),
    'Tags', json_extract(NEW.body, '$._local.tags'),
    'ModelArtifacts', json_extract(NEW.body, '$.ModelArtifacts'),
    'supervisor_pid', json_extract(NEW.body, '$._local.supervisor_pid'),
    'InstanceType', json_extract(NEW.body, '$.ResourceConfig.InstanceType')
)"""
_UPSERT = f"""INSERT OR REPLACE INTO run_rows VALUES (
    NEW.name, json_extract(NEW.body, '$.CreationTime'), json_extract(NEW.body, '$.TrainingJobStatus'), {ROW})"""
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS run_rows (
    name TEXT PRIMARY KEY, created TEXT, status TEXT, row TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS run_rows_by_created ON run_rows (created);
CREATE TRIGGER IF NOT EXISTS run_rows_insert AFTER INSERT ON resources WHEN NEW.kind = 'training-job'
BEGIN {_UPSERT}; END;
CREATE TRIGGER IF NOT EXISTS run_rows_update AFTER UPDATE ON resources WHEN NEW.kind = 'training-job'
BEGIN {_UPSERT}; END;
CREATE TRIGGER IF NOT EXISTS run_rows_delete AFTER DELETE ON resources WHEN OLD.kind = 'training-job'
BEGIN DELETE FROM run_rows WHERE name = OLD.name; END;
"""
_BACKFILL = f"""INSERT OR IGNORE INTO run_rows
SELECT NEW.name, json_extract(NEW.body, '$.CreationTime'), json_extract(NEW.body, '$.TrainingJobStatus'), {ROW}
FROM resources AS NEW WHERE NEW.kind = 'training-job'"""


def ensure_run_index(db: sqlite3.Connection) -> None:
    """Create the index and its triggers if missing; fill it from existing jobs the first time."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='trigger' AND name='run_rows_delete'").fetchone():
        return
    # One transaction: two processes opening an old store at once fill the index once.
    db.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}\n{_BACKFILL};\nCOMMIT;")

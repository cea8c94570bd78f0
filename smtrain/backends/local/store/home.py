"""Where the local backend keeps things, under ``$SMTRAIN_HOME``.

    state.db                 the index of resources (see state.py), owner-only like everything here
    state.db.lock            the store's lock (see store_lock.py); never moved or removed
    records/<kind>/<name>.json  saved records other than jobs and endpoints (see records.py)
    store/                   the file-backed object store; URIs are file://<absolute path>
    jobs/<job>/              a training job's /opt/ml tree; job.log is its log, record.json its saved record
    <kind>-jobs/<job>/       the same for a job of another kind (processing-jobs/, transform-jobs/, ...)
    endpoints/<endpoint>/    extracted model and code, server.log, record.json
    runtime/                 the runtime gateway's log
    venvs/<hash>/            cached environments for requirements.txt
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smtrain.backends.local.store.records import RecordFiles
from smtrain.backends.local.store.state import StateDB
from smtrain.planning.kinds import TRAINING, JobKind

JOB_FOLDERS = {"training": "jobs"}  # every other kind: <kind>-jobs/


@dataclass(frozen=True)
class LocalHome:
    root: Path

    @property
    def store(self) -> Path:
        return self.root / "store"

    def job_dir(self, job_name: str, kind: JobKind = TRAINING) -> Path:
        return self.root / JOB_FOLDERS.get(kind.key, f"{kind.key}-jobs") / job_name

    def job_log(self, job_name: str, kind: JobKind = TRAINING) -> Path:
        return self.job_dir(job_name, kind) / "job.log"

    def endpoint_dir(self, endpoint_name: str) -> Path:
        return self.root / "endpoints" / endpoint_name

    @property
    def runtime_dir(self) -> Path:
        return self.root / "runtime"

    @property
    def venvs(self) -> Path:
        return self.root / "venvs"

    @property
    def state_path(self) -> Path:
        return self.root / "state.db"

    @property
    def records(self) -> RecordFiles:
        return RecordFiles(self.root)

    def state(self, *, check: bool = True) -> StateDB:
        return StateDB(self.state_path, self.records, check=check)

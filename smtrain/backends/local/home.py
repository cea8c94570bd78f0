"""Where the local backend keeps things, under ``$SMTRAIN_HOME``.

    state.db                 resources (see state.py)
    store/                   the file-backed object store; URIs are file://<absolute path>
    jobs/<job>/              the job's /opt/ml tree; jobs/<job>/job.log is its log
    endpoints/<endpoint>/    extracted model and code, server.log
    runtime/                 the runtime gateway's log
    venvs/<hash>/            cached environments for requirements.txt
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smtrain.backends.local.state import StateDB


@dataclass(frozen=True)
class LocalHome:
    root: Path

    @property
    def store(self) -> Path:
        return self.root / "store"

    def job_dir(self, job_name: str) -> Path:
        return self.root / "jobs" / job_name

    def job_log(self, job_name: str) -> Path:
        return self.job_dir(job_name) / "job.log"

    def endpoint_dir(self, endpoint_name: str) -> Path:
        return self.root / "endpoints" / endpoint_name

    @property
    def runtime_dir(self) -> Path:
        return self.root / "runtime"

    @property
    def venvs(self) -> Path:
        return self.root / "venvs"

    def state(self) -> StateDB:
        return StateDB(self.root / "state.db")

"""One kind's jobs in the local store: reserve a name, claim it, read, stop and reconcile.

Every kind's local operations (``create_*``, ``describe_*``, ``stop_*``, ``list_*``) keep their
records through a :class:`JobTable`, so reservations, the never-reuse-a-folder rule, stopping a
job's supervisor and ending a job whose supervisor died are written once. The status words are
SageMaker's for every kind: InProgress, Stopping, Completed, Failed, Stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

from smtrain.backends.local.errors import client_error, in_use, not_found
from smtrain.backends.local.jobs import job_state
from smtrain.backends.local.jobs.processes import is_alive, kill_tagged, kill_tree, stop_group
from smtrain.backends.local.store import reservations
from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.store.state import StateDB
from smtrain.core.errors import REBUILD_HINT
from smtrain.planning.kinds import JobKind

STOP_ACK_SECONDS = 5.0
FORCED_STOP_GRACE_SECONDS = 5.0
ORPHAN_GRACE_SECONDS = 2.0

class JobTable:
    """The records of one kind's jobs. ``held`` maps (kind, name) to the token of a reservation this process holds."""

    def __init__(self, kind: JobKind, home: LocalHome, db: StateDB, region: str,
                 held: dict[tuple[str, str], str]) -> None:
        self.kind, self.home, self.db, self.region = kind, home, db, region
        self._held = held

    def _finish(self, body: dict[str, Any], status: str, when: str, failure_reason: str) -> None:
        job_state.finish(body, status, when, kind=self.kind, failure_reason=failure_reason)

    @property
    def store_kind(self) -> str:
        """The kind's rows in the state DB: its ARN resource type (``training-job``)."""
        return self.kind.arn_type

    def arn(self, name: str) -> str:
        return job_state.job_arn(self.region, name, self.kind.arn_type)

    # -- names -------------------------------------------------------------------------
    def reserve(self, name: str, **shown: Any) -> None:
        """Hold ``name`` for this submission before anything is written under it.

        The reservation is a row under the job's kind and name in the state DB, inserted
        atomically: of concurrent submissions one wins, the others get ``ResourceInUse``
        and have changed nothing. :meth:`insert` from this process turns it into the job;
        :meth:`release` gives it back. A reservation whose process died is taken over.
        ``shown`` are public fields a reader that knows nothing of reservations sees.
        """
        if self.db.get(self.store_kind, name) is None:
            self._refuse_existing_folder(name)
        token = uuid.uuid4().hex
        body = reservations.record(self.kind, name, self.arn(name), token, **shown)
        if not self.db.insert(self.store_kind, name, body) and not self._take_over_stale(name, body):
            raise in_use(self.kind.create, f"{self._unique()}, and a {self.kind.noun} with this name already exists "
                         f"or is being submitted ({body[self.kind.arn_key]})")
        self._held[(self.kind.key, name)] = token

    def release(self, name: str) -> bool:
        """Give back a reservation this process still holds (its submission failed or was interrupted);
        False when there was none left to give back (the job was created)."""
        token = self._held.pop((self.kind.key, name), None)
        current = self.db.get(self.store_kind, name)
        if token and current is not None and reservations.token(current) == token:
            return self.db.delete(self.store_kind, name)
        return False

    def insert(self, name: str, body: dict[str, Any]) -> None:
        """Record a new job: this process's reservation of ``name`` becomes it, or a new row (never over another)."""
        if self._claim(name, body):
            return
        if not self.db.insert(self.store_kind, name, body, before_save=lambda: self._refuse_existing_folder(name)):
            raise in_use(self.kind.create, f"{self._unique()}, and a {self.kind.noun} with this name already exists "
                         f"({body[self.kind.arn_key]})")

    # -- reading -----------------------------------------------------------------------
    def get(self, operation: str, name: str) -> dict[str, Any]:
        """The job's record, reconciled; the service's not-found error for a missing one or a reservation."""
        body = self.db.get(self.store_kind, name)
        if body is None or reservations.token(body):
            raise not_found(operation)
        return self.reconcile(body)

    def bodies(self) -> list[dict[str, Any]]:
        """Every job of the kind (reservations left out), reconciled, in the order they were made."""
        return [self.reconcile(body) for body in self.db.list(self.store_kind) if not reservations.token(body)]

    def update(self, name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
        return self.db.update(self.store_kind, name, change)

    # -- stopping ----------------------------------------------------------------------
    def stop(self, name: str) -> None:
        """Ask the job's supervisor to stop (SIGTERM), and end both process groups here if it does not answer."""
        body = self.get(self.kind.stop, name)
        status = body[self.kind.status_key]
        if status in job_state.TERMINAL:
            raise client_error(self.kind.stop, "ValidationException",
                               f"The request was rejected because the {self.kind.noun} is in status {status}.")
        body = self._mark_stopping(name) or body
        supervisor = int(job_state.local(body).get("supervisor_pid", 0))
        if supervisor and is_alive(supervisor):
            os.kill(supervisor, signal.SIGTERM)
        if not self._await_stop_ack(name, supervisor):
            self._force_stop(name)

    def reconcile(self, body: dict[str, Any]) -> dict[str, Any]:
        """A running job whose supervisor died: clean up its processes and end the job."""
        pid = int(job_state.local(body).get("supervisor_pid", 0))
        if body[self.kind.status_key] not in job_state.RUNNING or not pid or is_alive(pid):
            return body
        stop_group(int(job_state.local(body).get("script_pgid", 0)), grace_seconds=ORPHAN_GRACE_SECONDS)
        kill_tagged(str(job_state.local(body).get("process_token", "")))  # detached ones, orphaned to init
        name = body[self.kind.name_key]
        log = self.home.job_log(name, self.kind)

        def change(current: dict[str, Any]) -> None:
            if current[self.kind.status_key] == "Stopping":
                self._finish(current, "Stopped", job_state.now_iso(), "")
            elif current[self.kind.status_key] == "InProgress":
                self._finish(current, "Failed", job_state.now_iso(),
                             f"InternalServerError: the local job supervisor (pid {pid}) exited unexpectedly; "
                             f"see the job log {log}")

        return self.update(name, change) or body

    # -- helpers -----------------------------------------------------------------------
    def _unique(self) -> str:
        noun = self.kind.noun[0].upper() + self.kind.noun[1:]
        return f"{noun} names must be unique within an AWS account and region"

    def _claim(self, name: str, body: dict[str, Any]) -> bool:
        token = self._held.get((self.kind.key, name))
        if not token:
            return False
        claimed: list[bool] = []

        def change(current: dict[str, Any]) -> None:
            if reservations.token(current) == token:
                current.clear()
                current.update(body)
                claimed.append(True)

        self.update(name, change)
        if claimed:
            self._held.pop((self.kind.key, name), None)
        return bool(claimed)

    def _take_over_stale(self, name: str, body: dict[str, Any]) -> bool:
        """Replace a reservation left by a process that died before creating its job."""
        taken: list[bool] = []

        def change(current: dict[str, Any]) -> None:
            if reservations.token(current) and not reservations.holder_alive(current):
                current.clear()
                current.update(body)
                taken.append(True)

        self.update(name, change)
        return bool(taken)

    def _refuse_existing_folder(self, name: str) -> None:
        """A folder without a record: the index lost it. Never overwrite what a job left on disk."""
        job_dir = self.home.job_dir(name, self.kind)
        if job_dir.exists():
            raise in_use(self.kind.create, f"A {self.kind.noun} folder with this name already exists ({job_dir}) but "
                         f"the store's index has no record of it; {REBUILD_HINT}, or choose another job name")

    def _mark_stopping(self, name: str) -> dict[str, Any] | None:
        def change(body: dict[str, Any]) -> None:
            if body[self.kind.status_key] == "InProgress":
                body[self.kind.status_key] = "Stopping"
                if "SecondaryStatus" in body:
                    job_state.set_secondary(body, "Stopping", job_state.now_iso())

        return self.update(name, change)

    def _await_stop_ack(self, name: str, supervisor: int) -> bool:
        deadline = time.monotonic() + STOP_ACK_SECONDS
        while time.monotonic() < deadline:
            body = self.db.get(self.store_kind, name) or {}
            if body.get(self.kind.status_key) in job_state.TERMINAL or job_state.local(body).get("stop_acknowledged"):
                return True
            if not supervisor or not is_alive(supervisor):
                return False
            time.sleep(0.05)
        return False

    def _force_stop(self, name: str) -> None:
        """The supervisor is gone or does not answer: end both process groups here."""
        private = job_state.local(self.db.get(self.store_kind, name) or {})
        supervisor = int(private.get("supervisor_pid", 0))
        if supervisor:
            kill_tree(supervisor)  # its descendants too, even detached ones, before they lose their parent
            with contextlib.suppress(ProcessLookupError):
                os.killpg(supervisor, signal.SIGKILL)
        stop_group(int(private.get("script_pgid", 0)), grace_seconds=FORCED_STOP_GRACE_SECONDS)
        kill_tagged(str(private.get("process_token", "")))

        def change(current: dict[str, Any]) -> None:
            if current[self.kind.status_key] in job_state.RUNNING:
                self._finish(current, "Stopped", job_state.now_iso(), "")

        self.update(name, change)

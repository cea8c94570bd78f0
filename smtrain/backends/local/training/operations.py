"""Training jobs on the local backend: the SageMaker API operations.

``create_training_job`` checks the request, records the job and starts its
supervisor (``training.py``) as a detached process; the other operations
read and change the record. Requests and responses have the shapes of
``boto3.client("sagemaker")``; errors are ``ClientError``s with SageMaker's
codes. Jobs run the scikit-learn framework image's contract, so custom
images (which need Docker) and ``s3://`` data are refused with a hint.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from smtrain.backends.local.errors import client_error, in_use, not_found
from smtrain.backends.local.jobs.processes import (
    is_alive,
    kill_tagged,
    kill_tree,
    python_module_argv,
    spawn_detached,
    stop_group,
)
from smtrain.backends.local.store import reservations
from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.store.records import write_private
from smtrain.backends.local.store.state import StateDB, public
from smtrain.backends.local.training import job_state
from smtrain.backends.local.training.request_checks import validate_request
from smtrain.core.errors import REBUILD_HINT, NotFoundError
from smtrain.planning.kinds import TRAINING, JobKind
from smtrain.planning.plan import join_uri

SUPERVISOR_MODULE = "smtrain.backends.local.training.supervisor"
STOP_ACK_SECONDS = 5.0
FORCED_STOP_GRACE_SECONDS = 5.0
ORPHAN_GRACE_SECONDS = 2.0
TIME_KEYS = ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime")
DESCRIBE_KEYS = (
    "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
    "ResourceConfig", "VpcConfig", "StoppingCondition", "CheckpointConfig", "Environment",
    "RetryStrategy", "ExperimentConfig", "DebugHookConfig", "TensorBoardOutputConfig",
)
SORT_KEYS = {"Name": "TrainingJobName", "CreationTime": "CreationTime", "Status": "TrainingJobStatus"}
ENVIRONMENT_KEY = "SmtrainEnvironment"


class TrainingJobsAPI:
    """Mixed into ``LocalSageMaker``, which provides ``home``, ``db`` and ``region``."""

    home: LocalHome
    db: StateDB
    region: str
    _reservations: dict[str, str]

    def create_training_job(self, **request: Any) -> dict[str, Any]:
        validate_request(request)
        name = request["TrainingJobName"]
        body = _new_record(request, self.region)
        job_dir = self.home.job_dir(name)
        claimed = self._claim(name, body)  # this submission's own reservation becomes the job
        if not claimed and not self.db.insert(job_state.KIND, name, body,
                                              before_save=lambda: _refuse_existing_folder(job_dir)):
            raise in_use("CreateTrainingJob", f"Training job names must be unique within an AWS account and region, "
                         f"and a training job with this name already exists ({body['TrainingJobArn']})")
        write_private(self.home.job_log(name), "")  # the log holds what the script prints: owner only
        spawn_detached(
            python_module_argv(SUPERVISOR_MODULE, str(self.home.root.resolve()), name),
            log_path=self.home.job_log(name),
            cwd=self.home.job_dir(name),
            record=lambda pid: self._record_supervisor(name, pid),
        )
        return {"TrainingJobArn": body["TrainingJobArn"]}

    def _record_supervisor(self, name: str, pid: int) -> None:
        """Before the supervisor runs: a job deleted meanwhile gets none."""
        if self.db.update(job_state.KIND, name, lambda b: job_state.local(b).update(supervisor_pid=pid)) is None:
            raise not_found("CreateTrainingJob", f"Requested resource not found: training job {name} was removed")

    def reserve_job(self, kind: JobKind, name: str) -> None:
        """Hold ``name`` for a submission of a job of ``kind`` (see :meth:`reserve_training_job`)."""
        if kind is not TRAINING:
            raise NotImplementedError(kind.key)
        self.reserve_training_job(name)

    def release_job(self, kind: JobKind, name: str) -> bool:
        if kind is not TRAINING:
            raise NotImplementedError(kind.key)
        return self.release_training_job(name)

    def reserve_training_job(self, name: str) -> None:
        """Hold ``name`` for this submission before anything is written under it.

        The reservation is a row under the job's kind and name in the state DB, inserted
        atomically: of concurrent submissions one wins, the others get
        ``ResourceInUse`` and have changed nothing. ``create_training_job``
        from this process turns it into the job; :meth:`release_training_job`
        gives it back. A reservation whose process died is taken over.
        """
        self._refuse_orphan_folder(name)
        token = uuid.uuid4().hex
        body = reservations.record(name, self.region, token)
        if not self.db.insert(job_state.KIND, name, body) and not self._take_over_stale(name, body):
            raise in_use("CreateTrainingJob", f"Training job names must be unique within an AWS account and region, "
                         f"and a training job with this name already exists or is being submitted "
                         f"({body['TrainingJobArn']})")
        self._reservations[name] = token

    def release_training_job(self, name: str) -> bool:
        """Give back a reservation this process still holds (its submission failed or was interrupted);
        False when there was none left to give back (the job was created)."""
        token = self._reservations.pop(name, None)
        current = self.db.get(job_state.KIND, name)
        if token and current is not None and reservations.token(current) == token:
            return self.db.delete(job_state.KIND, name)
        return False

    def describe_training_job(self, *, TrainingJobName: str) -> dict[str, Any]:
        body = self._job("DescribeTrainingJob", TrainingJobName)
        return _response(self._reconcile(body))

    def stop_training_job(self, *, TrainingJobName: str) -> dict[str, Any]:
        body = self._job("StopTrainingJob", TrainingJobName)
        status = body["TrainingJobStatus"]
        if status in job_state.TERMINAL:
            raise client_error("StopTrainingJob", "ValidationException",
                               f"The request was rejected because the training job is in status {status}.")
        body = self._mark_stopping(TrainingJobName) or body
        supervisor = int(job_state.local(body).get("supervisor_pid", 0))
        if supervisor and is_alive(supervisor):
            os.kill(supervisor, signal.SIGTERM)
        if not self._await_stop_ack(TrainingJobName, supervisor):
            self._force_stop(TrainingJobName)
        return {}

    def list_training_jobs(self, **kw: Any) -> dict[str, Any]:
        """Newest first unless ``SortOrder`` says otherwise; ``StatusEquals`` filters the page,
        after ``MaxResults`` picked it, as the API documents."""
        jobs = [self._reconcile(body) for body in self.db.list(job_state.KIND) if not reservations.token(body)]
        jobs = [body for body in jobs if _matches(body, kw)]
        sort_key = SORT_KEYS.get(kw.get("SortBy", "CreationTime"), "CreationTime")
        descending = kw.get("SortOrder", "Descending") == "Descending"
        jobs.sort(key=lambda b: (b[sort_key], b["CreationTime"]), reverse=descending)
        start = int(kw.get("NextToken") or 0)
        size = int(kw.get("MaxResults") or 10)
        page = jobs[start:start + size]
        if kw.get("StatusEquals"):
            page = [b for b in page if b["TrainingJobStatus"] == kw["StatusEquals"]]
        result: dict[str, Any] = {"TrainingJobSummaries": [_summary(b) for b in page]}
        if start + size < len(jobs):
            result["NextToken"] = str(start + size)
        return result

    def training_log(self, job_name: str) -> Path:
        """The job's log file: supervisor messages and everything the script printed."""
        body = self.db.get(job_state.KIND, job_name)
        if body is None or reservations.token(body):
            raise NotFoundError(f"no training job named {job_name!r}", where=str(self.home.root),
                                hint="list jobs with list_training_jobs()")
        return self.home.job_log(job_name)

    # -- helpers -------------------------------------------------------------

    def _job(self, operation: str, name: str) -> dict[str, Any]:
        body = self.db.get(job_state.KIND, name)
        if body is None or reservations.token(body):
            raise not_found(operation)
        return body

    def _claim(self, name: str, body: dict[str, Any]) -> bool:
        """Turn this process's reservation of ``name`` into the job ``body``."""
        token = self._reservations.get(name)
        if not token:
            return False
        claimed: list[bool] = []

        def change(current: dict[str, Any]) -> None:
            if reservations.token(current) == token:
                current.clear()
                current.update(body)
                claimed.append(True)

        self.db.update(job_state.KIND, name, change)
        if claimed:
            self._reservations.pop(name, None)
        return bool(claimed)

    def _take_over_stale(self, name: str, body: dict[str, Any]) -> bool:
        """Replace a reservation left by a process that died before creating its job."""
        taken: list[bool] = []

        def change(current: dict[str, Any]) -> None:
            if reservations.token(current) and not reservations.holder_alive(current):
                current.clear()
                current.update(body)
                taken.append(True)

        self.db.update(job_state.KIND, name, change)
        return bool(taken)

    def _refuse_orphan_folder(self, name: str) -> None:
        """A job folder with no record belongs to a job the state DB lost: never reuse it."""
        if self.db.get(job_state.KIND, name) is None:
            _refuse_existing_folder(self.home.job_dir(name))

    def _reconcile(self, body: dict[str, Any]) -> dict[str, Any]:
        """A running job whose supervisor died: clean up its script and end the job."""
        pid = int(job_state.local(body).get("supervisor_pid", 0))
        if body["TrainingJobStatus"] not in job_state.RUNNING or not pid or is_alive(pid):
            return body
        stop_group(int(job_state.local(body).get("script_pgid", 0)), grace_seconds=ORPHAN_GRACE_SECONDS)
        kill_tagged(str(job_state.local(body).get("process_token", "")))  # detached ones, orphaned to init
        log = self.home.job_log(body["TrainingJobName"])

        def change(current: dict[str, Any]) -> None:
            if current["TrainingJobStatus"] == "Stopping":
                job_state.finish(current, "Stopped", job_state.now_iso())
            elif current["TrainingJobStatus"] == "InProgress":
                job_state.finish(current, "Failed", job_state.now_iso(), failure_reason=(
                    f"InternalServerError: the local job supervisor (pid {pid}) exited unexpectedly; "
                    f"see the job log {log}"))

        return self.db.update(job_state.KIND, body["TrainingJobName"], change) or body

    def _mark_stopping(self, name: str) -> dict[str, Any] | None:
        def change(body: dict[str, Any]) -> None:
            if body["TrainingJobStatus"] == "InProgress":
                body["TrainingJobStatus"] = "Stopping"
                job_state.set_secondary(body, "Stopping", job_state.now_iso())

        return self.db.update(job_state.KIND, name, change)

    def _await_stop_ack(self, name: str, supervisor: int) -> bool:
        deadline = time.monotonic() + STOP_ACK_SECONDS
        while time.monotonic() < deadline:
            body = self.db.get(job_state.KIND, name) or {}
            if body.get("TrainingJobStatus") in job_state.TERMINAL or job_state.local(body).get("stop_acknowledged"):
                return True
            if not supervisor or not is_alive(supervisor):
                return False
            time.sleep(0.05)
        return False

    def _force_stop(self, name: str) -> None:
        """The supervisor is gone or does not answer: end both process groups here."""
        body = self.db.get(job_state.KIND, name) or {}
        private = job_state.local(body)
        supervisor = int(private.get("supervisor_pid", 0))
        if supervisor:
            kill_tree(supervisor)  # its descendants too, even detached ones, before they lose their parent
            with contextlib.suppress(ProcessLookupError):
                os.killpg(supervisor, signal.SIGKILL)
        stop_group(int(private.get("script_pgid", 0)), grace_seconds=FORCED_STOP_GRACE_SECONDS)
        kill_tagged(str(private.get("process_token", "")))

        def change(current: dict[str, Any]) -> None:
            if current["TrainingJobStatus"] in job_state.RUNNING:
                job_state.finish(current, "Stopped", job_state.now_iso())

        self.db.update(job_state.KIND, name, change)


def _refuse_existing_folder(job_dir: Path) -> None:
    """A folder without a record: the index lost it. Never overwrite what a job left on disk."""
    if job_dir.exists():
        raise in_use("CreateTrainingJob", f"A training job folder with this name already exists ({job_dir}) but the "
                     f"store's index has no record of it; {REBUILD_HINT}, or choose another job name")


def _new_record(request: dict[str, Any], region: str) -> dict[str, Any]:
    name = request["TrainingJobName"]
    now = job_state.now_iso()
    output = request["OutputDataConfig"]["S3OutputPath"]
    body: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobArn": job_state.job_arn(region, name),
        "ModelArtifacts": {"S3ModelArtifacts": join_uri(output, name, "output", "model.tar.gz")},
        "TrainingJobStatus": "InProgress",
        "SecondaryStatus": "Starting",
        "CreationTime": now,
        "LastModifiedTime": now,
        "EnableNetworkIsolation": bool(request.get("EnableNetworkIsolation", False)),
        "EnableInterContainerTrafficEncryption": bool(request.get("EnableInterContainerTrafficEncryption", False)),
        "EnableManagedSpotTraining": bool(request.get("EnableManagedSpotTraining", False)),
        "_local": {"region": region, "tags": list(request.get("Tags", []))},
    }
    body.update({key: request[key] for key in DESCRIBE_KEYS if key in request})
    job_state.set_secondary(body, "Starting", now)
    return body


def _response(body: dict[str, Any]) -> dict[str, Any]:
    """The record as boto3 returns it: no private fields, timestamps as aware datetimes."""
    response = public(body)
    if job_state.local(body).get("framework"):  # local only: the libraries the script ran with
        response[ENVIRONMENT_KEY] = job_state.local(body)["framework"]
    for key in TIME_KEYS:
        if key in response:
            response[key] = job_state.parse_time(response[key])
    for transition in response.get("SecondaryStatusTransitions", []):
        for key in ("StartTime", "EndTime"):
            if key in transition:
                transition[key] = job_state.parse_time(transition[key])
    for metric in response.get("FinalMetricDataList", []):
        metric["Timestamp"] = job_state.parse_time(metric["Timestamp"])
    return response


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    response = _response(body)
    keys = ("TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime", "LastModifiedTime",
            "TrainingJobStatus", "SecondaryStatus")
    return {key: response[key] for key in keys if key in response}


def _matches(body: dict[str, Any], kw: dict[str, Any]) -> bool:
    if kw.get("NameContains") and kw["NameContains"] not in body["TrainingJobName"]:
        return False
    bounds = (("CreationTimeAfter", "CreationTime", 1), ("CreationTimeBefore", "CreationTime", -1),
              ("LastModifiedTimeAfter", "LastModifiedTime", 1), ("LastModifiedTimeBefore", "LastModifiedTime", -1))
    for arg, key, sign in bounds:
        if kw.get(arg) is None:
            continue
        value = job_state.parse_time(body[key]).timestamp()
        limit = kw[arg].timestamp() if hasattr(kw[arg], "timestamp") else float(kw[arg])
        if (value - limit) * sign <= 0:
            return False
    return True

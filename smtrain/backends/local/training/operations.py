"""Training jobs on the local backend: the SageMaker API operations.

``create_training_job`` checks the request, records the job and starts its
supervisor (``training.py``) as a detached process; the other operations
read and change the record. Requests and responses have the shapes of
``boto3.client("sagemaker")``; errors are ``ClientError``s with SageMaker's
codes. Jobs run the scikit-learn framework image's contract, so custom
images (which need Docker) and ``s3://`` data are refused with a hint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from smtrain.backends.local.errors import not_found
from smtrain.backends.local.jobs import job_state
from smtrain.backends.local.jobs.processes import (
    python_module_argv,
    spawn_detached,
)
from smtrain.backends.local.jobs.table import JobTable
from smtrain.backends.local.store import reservations
from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.store.records import write_private
from smtrain.backends.local.store.state import StateDB, public
from smtrain.backends.local.training.request_checks import validate_request
from smtrain.core.errors import NotFoundError
from smtrain.planning.kinds import TRAINING, JobKind
from smtrain.planning.plan import join_uri

SUPERVISOR_MODULE = "smtrain.backends.local.training.supervisor"
TIME_KEYS = ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime")
DESCRIBE_KEYS = (
    "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
    "ResourceConfig", "VpcConfig", "StoppingCondition", "CheckpointConfig", "Environment",
    "RetryStrategy", "ExperimentConfig", "DebugHookConfig", "TensorBoardOutputConfig",
)
SORT_KEYS = {"Name": "TrainingJobName", "CreationTime": "CreationTime", "Status": "TrainingJobStatus"}
ENVIRONMENT_KEY = "SmtrainEnvironment"


class TrainingJobsAPI:
    """Mixed into ``LocalSageMaker``, which provides ``home``, ``db``, ``region`` and :meth:`jobs`."""

    home: LocalHome
    db: StateDB
    region: str

    jobs: Callable[[JobKind], JobTable]

    def create_training_job(self, **request: Any) -> dict[str, Any]:
        validate_request(request)
        name = request["TrainingJobName"]
        body = _new_record(request, self.region)
        self.jobs(TRAINING).insert(name, body)  # this submission's own reservation becomes the job
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
        if self.jobs(TRAINING).update(name, lambda b: job_state.local(b).update(supervisor_pid=pid)) is None:
            raise not_found("CreateTrainingJob", f"Requested resource not found: training job {name} was removed")

    def reserve_training_job(self, name: str) -> None:
        """Hold ``name`` for a training job's submission (see :meth:`JobTable.reserve`)."""
        self.jobs(TRAINING).reserve(name, SecondaryStatus="Starting")

    def release_training_job(self, name: str) -> bool:
        return self.jobs(TRAINING).release(name)

    def describe_training_job(self, *, TrainingJobName: str) -> dict[str, Any]:
        return _response(self.jobs(TRAINING).get("DescribeTrainingJob", TrainingJobName))

    def stop_training_job(self, *, TrainingJobName: str) -> dict[str, Any]:
        self.jobs(TRAINING).stop(TrainingJobName)
        return {}

    def list_training_jobs(self, **kw: Any) -> dict[str, Any]:
        """Newest first unless ``SortOrder`` says otherwise; ``StatusEquals`` filters the page,
        after ``MaxResults`` picked it, as the API documents."""
        jobs = [body for body in self.jobs(TRAINING).bodies() if _matches(body, kw)]
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

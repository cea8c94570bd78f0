"""Batch transform jobs on the local backend: the SageMaker API operations.

``create_transform_job`` refuses, before any model server starts, what cannot run: a model that
does not exist, an input that is missing or empty, a content type the records are not in (or that
DataProcessing cannot read), a bad filter. It then records the job and starts its runner
(``runner.py``) as a detached process, as training jobs start their supervisor. The other
operations read and change the record through the kind's :class:`JobTable`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from smtrain.backends.local.errors import client_error, not_found
from smtrain.backends.local.jobs import job_state
from smtrain.backends.local.jobs.processes import python_module_argv, spawn_detached
from smtrain.backends.local.jobs.table import JobTable
from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.store.records import write_private
from smtrain.backends.local.store.state import StateDB, public
from smtrain.backends.local.transform import inputs
from smtrain.planning.kinds import TRANSFORM, JobKind

RUNNER_MODULE = "smtrain.backends.local.transform.runner"
TIME_KEYS = ("CreationTime", "TransformStartTime", "TransformEndTime", "LastModifiedTime")
DESCRIBE_KEYS = ("ModelName", "MaxConcurrentTransforms", "ModelClientConfig", "MaxPayloadInMB", "BatchStrategy",
                 "Environment", "TransformInput", "TransformOutput", "DataCaptureConfig", "TransformResources",
                 "DataProcessing", "ExperimentConfig")
# API_CreateTransformJob: MaxPayloadInMB defaults to 6; MaxConcurrentTransforms to 1 when the container
# answers no /execution-parameters (the SDK's local mode uses 6 MB and MultiRecord, entities.py
# _get_required_defaults). The scikit-learn container answers none.
DEFAULT_MAX_PAYLOAD_MB = 6
DEFAULT_CONCURRENCY = 1
DEFAULT_STRATEGY = "MultiRecord"


class TransformJobsAPI:
    """Mixed into ``LocalSageMaker``, which provides ``home``, ``db``, ``region`` and :meth:`jobs`."""

    home: LocalHome
    db: StateDB
    region: str
    jobs: Callable[[JobKind], JobTable]

    def create_transform_job(self, **request: Any) -> dict[str, Any]:
        name = request["TransformJobName"]
        model = self.db.get("model", request["ModelName"])
        if model is None:
            arn = job_state.job_arn(self.region, request["ModelName"], "model")
            raise client_error(TRANSFORM.create, "ValidationException", f'Could not find model "{arn}".')
        try:
            inputs.check_request(request)
        except inputs.InputRefused as refused:
            raise client_error(TRANSFORM.create, "ValidationException", str(refused)) from None
        body = _new_record(request, self.region)
        self.jobs(TRANSFORM).insert(name, body)
        try:
            self.home.job_dir(name, TRANSFORM).mkdir(parents=True, exist_ok=True)
            write_private(self.home.job_log(name, TRANSFORM), "")
            spawn_detached(
                python_module_argv(RUNNER_MODULE, str(self.home.root.resolve()), name),
                log_path=self.home.job_log(name, TRANSFORM),
                cwd=self.home.job_dir(name, TRANSFORM),
                record=lambda pid: self._record_runner(name, pid),
            )
        except BaseException as exc:  # never a job left InProgress with no runner to end it
            reason = f"InternalServerError: the local transform runner could not start: {exc}"
            self.jobs(TRANSFORM).update(name, lambda b: job_state.finish(b, "Failed", job_state.now_iso(),
                                                                         kind=TRANSFORM, failure_reason=reason))
            raise
        return {"TransformJobArn": body["TransformJobArn"]}

    def _record_runner(self, name: str, pid: int) -> None:
        if self.jobs(TRANSFORM).update(name, lambda b: job_state.local(b).update(supervisor_pid=pid)) is None:
            raise not_found(TRANSFORM.create, f"Requested resource not found: transform job {name} was removed")

    def describe_transform_job(self, *, TransformJobName: str) -> dict[str, Any]:
        return _response(self.jobs(TRANSFORM).get(TRANSFORM.describe, TransformJobName))

    def stop_transform_job(self, *, TransformJobName: str) -> dict[str, Any]:
        self.jobs(TRANSFORM).stop(TransformJobName)
        return {}

    def list_transform_jobs(self, **kw: Any) -> dict[str, Any]:
        bodies = [b for b in self.jobs(TRANSFORM).bodies()
                  if not kw.get("NameContains") or kw["NameContains"] in b[TRANSFORM.name_key]]
        if kw.get("StatusEquals"):
            bodies = [b for b in bodies if b[TRANSFORM.status_key] == kw["StatusEquals"]]
        key = {"Name": TRANSFORM.name_key, "Status": TRANSFORM.status_key}.get(kw.get("SortBy", ""), "CreationTime")
        descending = kw.get("SortOrder", "Descending") == "Descending"
        bodies.sort(key=lambda b: (b[key], b["CreationTime"]), reverse=descending)
        start, size = int(kw.get("NextToken") or 0), int(kw.get("MaxResults") or 10)
        keys = ("TransformJobName", "TransformJobArn", "CreationTime", "TransformEndTime", "LastModifiedTime",
                "TransformJobStatus", "FailureReason")
        summaries = [{k: v for k, v in _response(b).items() if k in keys} for b in bodies[start:start + size]]
        result: dict[str, Any] = {"TransformJobSummaries": summaries}
        if start + size < len(bodies):
            result["NextToken"] = str(start + size)
        return result

    def transform_log(self, job_name: str) -> Path:
        return self.home.job_log(job_name, TRANSFORM)


def _new_record(request: dict[str, Any], region: str) -> dict[str, Any]:
    name = request["TransformJobName"]
    now = job_state.now_iso()
    body: dict[str, Any] = {
        "TransformJobName": name,
        "TransformJobArn": job_state.job_arn(region, name, TRANSFORM.arn_type),
        "TransformJobStatus": "InProgress",
        "CreationTime": now,
        "LastModifiedTime": now,
        "_local": {"region": region, "tags": list(request.get("Tags", []))},
    }
    body.update({key: request[key] for key in DESCRIBE_KEYS if key in request})
    body.setdefault("BatchStrategy", DEFAULT_STRATEGY)
    body.setdefault("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB)
    body.setdefault("MaxConcurrentTransforms", DEFAULT_CONCURRENCY)
    return body


PROGRESS_KEY = "SmtrainProgress"  # local only: records and files done so far (as training's SmtrainEnvironment)


def _response(body: dict[str, Any]) -> dict[str, Any]:
    response = public(body)
    progress = job_state.local(body).get("progress")
    if progress:
        response[PROGRESS_KEY] = {"Records": progress["records"], "Files": progress["files"],
                                  "FilesTotal": progress["files_total"]}
    for key in TIME_KEYS:
        if key in response:
            response[key] = job_state.parse_time(response[key])
    return response

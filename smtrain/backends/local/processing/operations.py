"""Processing jobs on the local backend: the SageMaker API operations.

``create_processing_job`` checks the request for what the local backend can run (the limits SDK v2's
local mode has, see :mod:`.contract`), records the job and starts its supervisor as a detached process,
as training jobs start theirs; the other operations read and change the record through the kind's
:class:`~smtrain.backends.local.jobs.table.JobTable`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smtrain.backends.local.errors import client_error, not_found
from smtrain.backends.local.jobs import job_state
from smtrain.backends.local.jobs.processes import python_module_argv, spawn_detached
from smtrain.backends.local.jobs.table import JobTable
from smtrain.backends.local.processing import contract
from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.store.records import private_dir, write_private
from smtrain.backends.local.store.state import public
from smtrain.core.uris import to_path
from smtrain.planning.kinds import PROCESSING, JobKind
from smtrain.planning.plan import LOCAL_IMAGE

SUPERVISOR_MODULE = "smtrain.backends.local.processing.supervisor"
TIME_KEYS = ("CreationTime", "ProcessingStartTime", "ProcessingEndTime", "LastModifiedTime")
DESCRIBE_KEYS = ("ProcessingInputs", "ProcessingOutputConfig", "ProcessingResources", "StoppingCondition",
                 "AppSpecification", "Environment", "NetworkConfig", "RoleArn", "ExperimentConfig")
SUMMARY_KEYS = ("ProcessingJobName", "ProcessingJobArn", "CreationTime", "ProcessingEndTime", "LastModifiedTime",
                "ProcessingJobStatus", "FailureReason", "ExitMessage")
FRAMEWORK_IMAGE_MARKER = "sagemaker-scikit-learn"
SAGEMAKER_HINT = "run it with the sagemaker backend (SMTRAIN_BACKEND=sagemaker)"


def _invalid(message: str) -> Exception:
    return client_error(PROCESSING.create, "ValidationException", message)


def check_request(request: dict[str, Any]) -> None:
    """Refuse, as a ValidationException, what the local backend cannot run, saying why."""
    image = request["AppSpecification"].get("ImageUri", "")
    if image.split(":", 1)[0] != LOCAL_IMAGE and FRAMEWORK_IMAGE_MARKER not in image:
        raise _invalid(f"Custom image {image!r} needs Docker, which the local backend does not use; {SAGEMAKER_HINT}")
    if not request["AppSpecification"].get("ContainerEntrypoint"):
        raise _invalid("The local backend runs AppSpecification.ContainerEntrypoint (the image's own entrypoint "
                       "needs Docker); give the script's command, e.g. "
                       "['python3', '/opt/ml/processing/input/code/x.py']")
    for item in request.get("ProcessingInputs", []):
        _check_input(item)
    for item in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
        _check_output(item)


def _check_input(item: dict[str, Any]) -> None:
    name = item.get("InputName", "")
    source = item.get("S3Input")
    if not source:  # sagemaker/local/entities.py: DatasetDefinition is not supported in local mode
        raise _invalid(f"Input {name!r}: the local backend reads S3Input inputs only (not DatasetDefinition)")
    # Sharding is done here (hosts.py), where SDK v2's local mode refuses anything but FullyReplicated.
    for key, supported in (("S3InputMode", ("File",)),
                           ("S3DataDistributionType", ("FullyReplicated", "ShardedByS3Key")),
                           ("S3CompressionType", ("None",)), ("S3DataType", ("S3Prefix",))):
        if source.get(key, supported[0]) not in supported:
            raise _invalid(f"Input {name!r}: {key} {source[key]!r} is not supported locally; use "
                           + " or ".join(supported))
    uri = source.get("S3Uri", "")
    if not uri.startswith(("s3://", "file://")) or (uri.startswith("file://") and not to_path(uri).exists()):
        raise _invalid(f"Input {name!r}: no file or directory at {uri!r}; check the path")
    _check_local_path(name, source.get("LocalPath", ""))


def _check_output(item: dict[str, Any]) -> None:
    name = item.get("OutputName", "")
    output = item.get("S3Output")
    if not output:  # sagemaker/local/entities.py: FeatureStoreOutput is not supported in local mode
        raise _invalid(f"Output {name!r}: the local backend writes S3Output outputs only (not FeatureStoreOutput)")
    if output.get("S3UploadMode", "EndOfJob") != "EndOfJob":
        raise _invalid(f"Output {name!r}: S3UploadMode {output['S3UploadMode']!r} is not supported locally; "
                       "use EndOfJob")
    if not str(output.get("S3Uri", "")).startswith("file://"):
        raise _invalid(f"Output {name!r}: the local backend writes outputs to file:// URIs, not "
                       f"{output.get('S3Uri')!r}; use the local store, or {SAGEMAKER_HINT}")
    _check_local_path(name, output.get("LocalPath", ""))


def _check_local_path(name: str, local_path: str) -> None:
    if not contract.under_processing(local_path):
        raise _invalid(f"{name!r}: LocalPath {local_path!r} must be a folder under /opt/ml/processing/")


class ProcessingJobsAPI:
    """Mixed into ``LocalSageMaker``, which provides ``home``, ``region`` and :meth:`jobs`."""

    home: LocalHome
    region: str
    jobs: Callable[[JobKind], JobTable]

    def create_processing_job(self, **request: Any) -> dict[str, Any]:
        check_request(request)
        name = request["ProcessingJobName"]
        now = job_state.now_iso()
        body: dict[str, Any] = {
            "ProcessingJobName": name,
            "ProcessingJobArn": job_state.job_arn(self.region, name, PROCESSING.arn_type),
            "ProcessingJobStatus": "InProgress",
            "CreationTime": now,
            "LastModifiedTime": now,
            "_local": {"region": self.region, "tags": list(request.get("Tags", []))},
        }
        body.update({key: request[key] for key in DESCRIBE_KEYS if key in request})
        table = self.jobs(PROCESSING)
        table.insert(name, body)
        log = self.home.job_log(name, PROCESSING)
        private_dir(log.parent, self.home.root)  # the job's folder, owner only, as a training job's
        write_private(log, "")
        spawn_detached(python_module_argv(SUPERVISOR_MODULE, str(self.home.root.resolve()), name),
                       log_path=log, cwd=self.home.job_dir(name, PROCESSING),
                       record=lambda pid: self._record_processing_supervisor(name, pid))
        return {"ProcessingJobArn": body["ProcessingJobArn"]}

    def _record_processing_supervisor(self, name: str, pid: int) -> None:
        if self.jobs(PROCESSING).update(name, lambda b: job_state.local(b).update(supervisor_pid=pid)) is None:
            raise not_found(PROCESSING.create, f"Requested resource not found: processing job {name} was removed")

    def describe_processing_job(self, *, ProcessingJobName: str) -> dict[str, Any]:
        return _response(self.jobs(PROCESSING).get(PROCESSING.describe, ProcessingJobName))

    def stop_processing_job(self, *, ProcessingJobName: str) -> dict[str, Any]:
        self.jobs(PROCESSING).stop(ProcessingJobName)
        return {}

    def list_processing_jobs(self, **kw: Any) -> dict[str, Any]:
        """Newest first unless ``SortOrder`` says otherwise; ``NameContains`` and ``StatusEquals`` filter."""
        bodies = [b for b in self.jobs(PROCESSING).bodies()
                  if not kw.get("NameContains") or kw["NameContains"] in b[PROCESSING.name_key]]
        if kw.get("StatusEquals"):
            bodies = [b for b in bodies if b[PROCESSING.status_key] == kw["StatusEquals"]]
        key = {"Name": PROCESSING.name_key, "Status": PROCESSING.status_key}.get(kw.get("SortBy", ""), "CreationTime")
        descending = kw.get("SortOrder", "Descending") == "Descending"
        bodies.sort(key=lambda b: (b[key], b["CreationTime"]), reverse=descending)
        start, size = int(kw.get("NextToken") or 0), int(kw.get("MaxResults") or 10)
        page = [_response(b) for b in bodies[start:start + size]]
        result: dict[str, Any] = {PROCESSING.summaries_key: [{k: b[k] for k in SUMMARY_KEYS if k in b} for b in page]}
        if start + size < len(bodies):
            result["NextToken"] = str(start + size)
        return result


def _response(body: dict[str, Any]) -> dict[str, Any]:
    """The record as boto3 returns it: no private fields, timestamps as aware datetimes."""
    response = public(body)
    for key in TIME_KEYS:
        if key in response:
            response[key] = job_state.parse_time(response[key])
    return response

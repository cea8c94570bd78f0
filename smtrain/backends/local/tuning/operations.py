"""Hyperparameter tuning jobs on the local backend: the SageMaker API operations.

``create_hyper_parameter_tuning_job`` checks the request (a sample trial must be a training job
the local backend can run), records the job and starts its tuner (``tuner.py``) as a detached
process, as training jobs start their supervisor. Describe and the trial listing are computed
from the trials' own training job records, in the API's shapes: ``TrainingJobStatusCounters``,
``ObjectiveStatusCounters``, ``BestTrainingJob``, ``HyperParameterTrainingJobSummary``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smtrain.backends.local.errors import client_error, not_found
from smtrain.backends.local.jobs import job_state
from smtrain.backends.local.jobs.processes import python_module_argv, spawn_detached
from smtrain.backends.local.jobs.table import JobTable
from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.store.records import write_private
from smtrain.backends.local.store.state import public
from smtrain.backends.local.training import request_checks
from smtrain.planning.kinds import TRAINING, TUNING, JobKind

TUNER_MODULE = "smtrain.backends.local.tuning.tuner"
TIME_KEYS = ("CreationTime", "HyperParameterTuningEndTime", "LastModifiedTime")
TRIAL_TIME_KEYS = ("CreationTime", "TrainingStartTime", "TrainingEndTime")
# The training job fields a trial takes from TrainingJobDefinition as they are.
DEFINITION_KEYS = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "VpcConfig", "OutputDataConfig",
                   "StoppingCondition", "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
                   "EnableManagedSpotTraining", "CheckpointConfig", "RetryStrategy", "Environment")


def trial_request(tuning: dict[str, Any], trial_name: str, tuned: dict[str, str]) -> dict[str, Any]:
    """The CreateTrainingJob request of one trial: the definition, its static hyperparameters plus the
    tuned ones, resources from HyperParameterTuningResourceConfig (or ResourceConfig), the job's tags."""
    definition = tuning["TrainingJobDefinition"]
    request: dict[str, Any] = {key: definition[key] for key in DEFINITION_KEYS if key in definition}
    resources = definition.get("HyperParameterTuningResourceConfig") or definition.get("ResourceConfig") or {}
    request.update(
        TrainingJobName=trial_name,
        HyperParameters={**definition.get("StaticHyperParameters", {}), **tuned},
        ResourceConfig={k: resources[k] for k in ("InstanceType", "InstanceCount", "VolumeSizeInGB",
                                                   "VolumeKmsKeyId") if k in resources},
    )
    tags = job_state.local(tuning).get("tags") or []
    if tags:
        request["Tags"] = list(tags)
    return request


def objective_metric(trial: dict[str, Any], objective: dict[str, str]) -> dict[str, Any] | None:
    """The trial's final objective value (FinalHyperParameterTuningJobObjectiveMetric), None if it has none."""
    if trial.get("TrainingJobStatus") != "Completed":
        return None
    for metric in trial.get("FinalMetricDataList") or []:
        if metric["MetricName"] == objective["MetricName"]:
            return {"Type": objective["Type"], "MetricName": objective["MetricName"], "Value": float(metric["Value"])}
    return None


class TuningJobsAPI:
    """Mixed into ``LocalSageMaker``, which provides ``home``, ``region`` and :meth:`jobs`."""

    home: LocalHome
    region: str
    jobs: Callable[[JobKind], JobTable]

    def create_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        name = request["HyperParameterTuningJobName"]
        if "TrainingJobDefinition" not in request:
            raise client_error(TUNING.create, "ValidationException",
                               "the local backend runs one TrainingJobDefinition (TrainingJobDefinitions is not "
                               "supported locally)")
        now = job_state.now_iso()
        body: dict[str, Any] = {
            "HyperParameterTuningJobName": name,
            "HyperParameterTuningJobArn": job_state.job_arn(self.region, name, TUNING.arn_type),
            "HyperParameterTuningJobConfig": request["HyperParameterTuningJobConfig"],
            "TrainingJobDefinition": request["TrainingJobDefinition"],
            "HyperParameterTuningJobStatus": "InProgress",
            "CreationTime": now,
            "LastModifiedTime": now,
            "_local": {"region": self.region, "tags": list(request.get("Tags", [])), "trials": []},
        }
        if request.get("WarmStartConfig"):
            body["WarmStartConfig"] = request["WarmStartConfig"]
            for parent in request["WarmStartConfig"]["ParentHyperParameterTuningJobs"]:
                parent_name = parent["HyperParameterTuningJobName"]
                if self.jobs(TUNING).db.get(TUNING.arn_type, parent_name) is None:
                    raise client_error(TUNING.create, "ResourceNotFound",
                                       f"Could not find parent hyper parameter tuning job '{parent_name}'.")
        sample = trial_request(body, f"{name}-001-00000000", {})
        request_checks.validate_request(sample)  # what no trial could run is refused now, not 20 times
        self.jobs(TUNING).insert(name, body)
        try:
            self.home.job_dir(name, TUNING).mkdir(parents=True, exist_ok=True)
            write_private(self.home.job_log(name, TUNING), "")
            spawn_detached(
                python_module_argv(TUNER_MODULE, str(self.home.root.resolve()), name),
                log_path=self.home.job_log(name, TUNING),
                cwd=self.home.job_dir(name, TUNING),
                record=lambda pid: self._record_tuner(name, pid),
            )
        except BaseException as exc:  # never a job left InProgress with no tuner to end it
            reason = f"InternalServerError: the local tuner could not start: {exc}"
            self.jobs(TUNING).update(name, lambda b: job_state.finish(b, "Failed", job_state.now_iso(), kind=TUNING,
                                                                      failure_reason=reason))
            raise
        return {"HyperParameterTuningJobArn": body["HyperParameterTuningJobArn"]}

    def _record_tuner(self, name: str, pid: int) -> None:
        if self.jobs(TUNING).update(name, lambda b: job_state.local(b).update(supervisor_pid=pid)) is None:
            raise not_found(TUNING.create, f"Requested resource not found: tuning job {name} was removed")

    def describe_hyper_parameter_tuning_job(self, *, HyperParameterTuningJobName: str) -> dict[str, Any]:
        body = self.jobs(TUNING).get(TUNING.describe, HyperParameterTuningJobName)
        return self._tuning_response(body)

    def stop_hyper_parameter_tuning_job(self, *, HyperParameterTuningJobName: str) -> dict[str, Any]:
        self.jobs(TUNING).stop(HyperParameterTuningJobName)
        return {}

    def list_hyper_parameter_tuning_jobs(self, **kw: Any) -> dict[str, Any]:
        bodies = [b for b in self.jobs(TUNING).bodies()
                  if not kw.get("NameContains") or kw["NameContains"] in b[TUNING.name_key]]
        if kw.get("StatusEquals"):
            bodies = [b for b in bodies if b[TUNING.status_key] == kw["StatusEquals"]]
        bodies.sort(key=lambda b: b["CreationTime"], reverse=kw.get("SortOrder", "Descending") == "Descending")
        start, size = int(kw.get("NextToken") or 0), int(kw.get("MaxResults") or 100)
        summaries = []
        for body in bodies[start:start + size]:
            response = self._tuning_response(body)
            config = response["HyperParameterTuningJobConfig"]
            summary: dict[str, Any] = {key: response[key] for key in (
                "HyperParameterTuningJobName", "HyperParameterTuningJobArn", "HyperParameterTuningJobStatus",
                "CreationTime", "HyperParameterTuningEndTime", "LastModifiedTime", "TrainingJobStatusCounters",
                "ObjectiveStatusCounters") if key in response}
            summary["Strategy"] = config["Strategy"]
            summary["ResourceLimits"] = config["ResourceLimits"]
            summaries.append(summary)
        result: dict[str, Any] = {"HyperParameterTuningJobSummaries": summaries}
        if start + size < len(bodies):
            result["NextToken"] = str(start + size)
        return result

    def list_training_jobs_for_hyper_parameter_tuning_job(self, **kw: Any) -> dict[str, Any]:
        body = self.jobs(TUNING).get("ListTrainingJobsForHyperParameterTuningJob", kw["HyperParameterTuningJobName"])
        summaries = self._trial_summaries(body)
        if kw.get("StatusEquals"):
            summaries = [s for s in summaries if s["TrainingJobStatus"] == kw["StatusEquals"]]
        sort_by = kw.get("SortBy", "Name")
        if sort_by == "FinalObjectiveMetricValue":  # the API leaves out trials without an objective value
            summaries = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
        keys = {"Name": lambda s: s["TrainingJobName"], "CreationTime": lambda s: s["CreationTime"],
                "Status": lambda s: s["TrainingJobStatus"],
                "FinalObjectiveMetricValue": lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]}
        summaries.sort(key=keys[sort_by], reverse=kw.get("SortOrder", "Ascending") == "Descending")
        start, size = int(kw.get("NextToken") or 0), int(kw.get("MaxResults") or 10)
        result: dict[str, Any] = {"TrainingJobSummaries": summaries[start:start + size]}
        if start + size < len(summaries):
            result["NextToken"] = str(start + size)
        return result

    # -- the response, computed from the trials --------------------------------------------------
    def _trial_summaries(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        objective = body["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
        summaries = []
        for trial in job_state.local(body).get("trials", []):
            record = self.jobs(TRAINING).db.get(TRAINING.arn_type, trial["name"])
            if record is None:
                continue
            record = self.jobs(TRAINING).reconcile(record)
            summary: dict[str, Any] = {
                "TrainingJobName": trial["name"], "TrainingJobArn": record["TrainingJobArn"],
                "TuningJobName": body[TUNING.name_key], "TrainingJobStatus": record["TrainingJobStatus"],
                "TunedHyperParameters": dict(trial["tuned"]),
            }
            for key in TRIAL_TIME_KEYS:
                if key in record:
                    summary[key] = job_state.parse_time(record[key])
            metric = objective_metric(record, objective)
            if metric is not None:
                summary["FinalHyperParameterTuningJobObjectiveMetric"] = metric
            if record.get("FailureReason"):
                summary["FailureReason"] = record["FailureReason"]
            summary["ObjectiveStatus"] = ("Succeeded" if metric is not None else
                                          "Pending" if record["TrainingJobStatus"] in job_state.RUNNING else "Failed")
            summaries.append(summary)
        return summaries

    def _tuning_response(self, body: dict[str, Any]) -> dict[str, Any]:
        response = public(body)
        for key in TIME_KEYS:
            if key in response:
                response[key] = job_state.parse_time(response[key])
        summaries = self._trial_summaries(body)
        statuses = [s["TrainingJobStatus"] for s in summaries]
        response["TrainingJobStatusCounters"] = {
            "Completed": statuses.count("Completed"), "InProgress": statuses.count("InProgress") +
            statuses.count("Stopping"), "RetryableError": 0, "NonRetryableError": statuses.count("Failed"),
            "Stopped": statuses.count("Stopped"),
        }
        objectives = [s["ObjectiveStatus"] for s in summaries]
        response["ObjectiveStatusCounters"] = {word: objectives.count(word) for word in ("Succeeded", "Pending",
                                                                                         "Failed")}
        scored = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
        if scored:
            maximize = body["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["Type"] == "Maximize"
            pick = max if maximize else min
            response["BestTrainingJob"] = pick(
                scored, key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
        return response

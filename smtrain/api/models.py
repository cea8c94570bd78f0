"""The model registry, read and curated: groups, versions, approval.

Registering is planned in :mod:`smtrain.planning.model_package`; this module lists what was
registered (with the metrics of the training job behind each version) and
changes a version's approval. It works on either backend's SageMaker client.
``GROUP/VERSION`` (``penguins/3``) or a model package ARN names one version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smtrain.backends.base import Backend
from smtrain.core.errors import NotFoundError, UsageError
from smtrain.execution.executor import call, list_all
from smtrain.planning.steps import ApiCall, Plan

APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
JOB_METADATA_KEY = "smtrain:training-job"


def list_groups(backend: Backend) -> list[dict[str, Any]]:
    return list_all(backend, "ListModelPackageGroups", "ModelPackageGroupSummaryList",
                    params={"SortBy": "CreationTime", "SortOrder": "Ascending"})


def list_versions(backend: Backend, group: str) -> list[dict[str, Any]]:
    """The group's versions, oldest first, each with ``Metrics`` from the training job that produced it and
    ``EvaluationMetrics`` from the evaluation.json it was registered with."""
    try:
        summaries = list_all(backend, "ListModelPackages", "ModelPackageSummaryList",
                             params={"ModelPackageGroupName": group, "SortBy": "CreationTime",
                                     "SortOrder": "Ascending"})
        return [with_job_metrics(backend, summary) for summary in summaries]
    except NotFoundError:
        raise missing_group(backend, group) from None


def with_job_metrics(backend: Backend, summary: dict[str, Any]) -> dict[str, Any]:
    package = call(backend, "DescribeModelPackage", {"ModelPackageName": summary["ModelPackageArn"]})
    job_name = package.get("CustomerMetadataProperties", {}).get(JOB_METADATA_KEY, "")
    metrics: dict[str, float] = {}
    if job_name:
        try:
            job = call(backend, "DescribeTrainingJob", {"TrainingJobName": job_name})
        except NotFoundError:
            job = {}
        from smtrain.core.metric_values import value_of

        metrics = {m["MetricName"]: value_of(m) for m in job.get("FinalMetricDataList", [])}
    from smtrain.api.evaluation import package_metrics

    return {**summary, "TrainingJobName": job_name, "Metrics": metrics,
            "EvaluationMetrics": package_metrics(backend, package)}


def parse_version(reference: str) -> tuple[str, int]:
    """``GROUP/VERSION`` -> (group, version)."""
    group, _, version = reference.rpartition("/")
    if not group or not version.isdigit() or int(version) < 1:
        raise UsageError(f"{reference!r} does not name a model version", where="model version",
                         hint="write GROUP/VERSION, e.g. penguins/3, or give a model package ARN; "
                              "`smtrain models GROUP` lists the versions")
    return group, int(version)


def package_arn(backend: Backend, reference: str) -> str:
    """The ARN of ``GROUP/VERSION``, or the ARN itself."""
    if reference.startswith("arn:"):
        check_region(backend, reference)
        return str(call(backend, "DescribeModelPackage", {"ModelPackageName": reference})["ModelPackageArn"])
    group, version = parse_version(reference)
    try:
        summaries = list(list_versions_summaries(backend, group))
    except NotFoundError:
        raise missing_group(backend, group) from None
    for summary in summaries:
        if int(summary.get("ModelPackageVersion", 0)) == version:
            return str(summary["ModelPackageArn"])
    raise NotFoundError(f"model version {reference} not found", where=f"model package group {group}",
                        hint=f"`smtrain models {group}` lists its versions")


def check_region(backend: Backend, arn: str) -> None:
    """A model package lives in one region: an ARN from another is refused, not looked up where it is not."""
    parts = arn.split(":")
    arn_region = parts[3] if len(parts) > 5 else ""
    region = str(getattr(backend, "region", "") or backend.config.resolved_region())
    if arn_region and arn_region != region:
        raise UsageError(f"model package {arn} is in region {arn_region}, but smtrain works in {region}",
                         where="model version",
                         hint=f"pass --region {arn_region} (or set SMTRAIN_REGION) to use it there, or register "
                              f"the model in {region}; a model package cannot serve from another region")


def missing_group(backend: Backend, group: str) -> NotFoundError:
    import difflib

    names = [g["ModelPackageGroupName"] for g in list_groups(backend)]
    close = difflib.get_close_matches(group, names, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else "`smtrain models` lists the groups"
    return NotFoundError(f"model package group {group} not found", where=f"the {backend.name} model registry",
                         hint=hint)


def list_versions_summaries(backend: Backend, group: str) -> list[dict[str, Any]]:
    return list_all(backend, "ListModelPackages", "ModelPackageSummaryList", params={"ModelPackageGroupName": group})


def plan_set_approval(arn: str, status: str, description: str = "") -> Plan:
    if status not in APPROVAL_STATUSES:
        raise UsageError(f"unknown approval status {status!r}", where="approval",
                         hint=f"use one of {', '.join(APPROVAL_STATUSES)}")
    params: dict[str, Any] = {"ModelPackageArn": arn, "ModelApprovalStatus": status}
    if description:
        params["ApprovalDescription"] = description
    return (ApiCall("approval", "sagemaker", "UpdateModelPackage", params),)


def set_approval(backend: Backend, reference: str, status: str, description: str = "") -> dict[str, Any]:
    """Change one version's approval; returns its DescribeModelPackage."""
    from smtrain.execution.executor import QuietReporter, execute

    arn = package_arn(backend, reference)
    execute(plan_set_approval(arn, status, description), backend, QuietReporter())
    return call(backend, "DescribeModelPackage", {"ModelPackageName": arn})


@dataclass(frozen=True)
class ServedVersion:
    """What deploying a registered model version serves: its registered container."""

    arn: str
    endpoint_name: str  # the default: the job's name, or the model package group's
    image: str
    model_data: str
    program: str
    submit_directory: str
    approval: str = ""  # a registered version's ModelApprovalStatus


def is_model_version(reference: str) -> bool:
    """``GROUP/VERSION`` or a model package ARN; job names cannot hold a ``/``."""
    return "/" in reference


def served_version(backend: Backend, reference: str) -> ServedVersion:
    """The container a model version was registered with; a Rejected version is refused (a pending one is
    served, and the caller warns)."""
    arn = package_arn(backend, reference)
    package = call(backend, "DescribeModelPackage", {"ModelPackageName": arn}, where=f"model version {reference}")
    if package.get("ModelApprovalStatus") == "Rejected":
        raise UsageError(f"model version {reference} is Rejected", where="deploy",
                         hint=f"approve it first (`smtrain approve {reference}`), or deploy another version")
    container = package["InferenceSpecification"]["Containers"][0]
    environment = container.get("Environment", {})
    return ServedVersion(arn=arn, endpoint_name=str(package.get("ModelPackageGroupName", "")),
                         image=container["Image"],
                         model_data=container.get("ModelDataUrl", ""),
                         program=environment.get("SAGEMAKER_PROGRAM", ""),
                         submit_directory=environment.get("SAGEMAKER_SUBMIT_DIRECTORY", ""),
                         approval=str(package.get("ModelApprovalStatus", "")))

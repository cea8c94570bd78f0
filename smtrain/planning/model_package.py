"""Plans for the SageMaker Model Registry: a training job's model as a model package.

Whether the model package group already exists is known only by asking
AWS. Rather than a conditional step that every executor (and the Step
Functions exporter) would have to understand, the caller asks first with
:func:`group_exists` (one read-only Describe) and passes the answer as
``create_group``; the plan then lists exactly the calls that will be made,
like ``plan_deploy(update=...)`` does for endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smtrain.core.errors import UsageError
from smtrain.planning.plan import SMTRAIN_TAG, serving_environment
from smtrain.planning.spec import decode_hyperparameters
from smtrain.planning.steps import ApiCall, Plan, Ref, Step, Wait

CONTENT_TYPES = ["text/csv", "application/json"]
RESPONSE_TYPES = ["application/json", "text/csv"]
APPROVED = "Approved"
PENDING = "PendingManualApproval"
JOB_METADATA_KEY = "smtrain:training-job"


def plan_register(
    job_description: Mapping[str, Any],
    *,
    group: str,
    approve: bool,
    image_uri: str,
    region: str,
    create_group: bool = True,
    model_metrics: Mapping[str, Any] | None = None,
) -> Plan:
    """CreateModelPackageGroup (when ``create_group``), CreateModelPackage, wait for Completed.

    ``model_metrics`` (``smtrain.planning.evaluation.model_metrics``) is sent as ModelMetrics.
    """
    job = str(job_description.get("TrainingJobName", ""))
    steps: list[Step] = []
    if create_group:
        steps.append(ApiCall("model-package-group", "sagemaker", "CreateModelPackageGroup", {
            "ModelPackageGroupName": group,
            "ModelPackageGroupDescription": "Models registered by smtrain",
            "Tags": [dict(SMTRAIN_TAG)],
        }))
    package: dict[str, Any] = {
        "ModelPackageGroupName": group,
        "ModelPackageDescription": f"Trained by SageMaker training job {job}",
        "InferenceSpecification": inference_specification(job_description, image_uri=image_uri, region=region),
        "ModelApprovalStatus": APPROVED if approve else PENDING,
        # Versioned model packages take no Tags; metadata properties carry the lineage instead.
        "CustomerMetadataProperties": {JOB_METADATA_KEY: job, SMTRAIN_TAG["Key"]: SMTRAIN_TAG["Value"]},
    }
    if model_metrics:
        package["ModelMetrics"] = dict(model_metrics)
    steps.append(ApiCall("model-package", "sagemaker", "CreateModelPackage", package))
    steps.append(Wait("model-package-ready", "sagemaker", "DescribeModelPackage",
                      {"ModelPackageName": Ref("model-package", "ModelPackageArn")},
                      "ModelPackageStatus", ("Completed",), ("Failed",)))
    return tuple(steps)


def inference_specification(job_description: Mapping[str, Any], *, image_uri: str, region: str) -> dict[str, Any]:
    """The serving container of a scikit-learn training job, as the registry stores it."""
    job = job_description.get("TrainingJobName", "the training job")
    model_data = job_description.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
    if not model_data:
        status = job_description.get("TrainingJobStatus", "unknown")
        raise UsageError(f"{job} has no model artifact (status {status})", where="register",
                         hint="register a job whose status is Completed (`smtrain ls`)")
    hyperparameters = decode_hyperparameters(job_description.get("HyperParameters", {}))
    environment = serving_environment(
        str(hyperparameters.get("sagemaker_program", "")),
        str(hyperparameters.get("sagemaker_submit_directory", "")),
        region,
    )
    return {
        "Containers": [{"Image": image_uri, "ModelDataUrl": model_data, "Environment": environment}],
        "SupportedContentTypes": list(CONTENT_TYPES),
        "SupportedResponseMIMETypes": list(RESPONSE_TYPES),
    }


def group_exists(sagemaker: Any, group: str) -> bool:
    """Ask the service (either backend's client) whether the model package group exists."""
    from botocore.exceptions import ClientError

    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationException" and "does not exist" in error.get("Message", ""):
            return False
        from smtrain.aws.translation import translate

        raise translate(exc, where=f"model package group {group}") from exc
    return True

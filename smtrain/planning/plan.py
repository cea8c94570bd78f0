"""Plans: the exact API requests a command sends, built without any I/O.

A plan is a tuple of steps. Every executor reads the same plan: the local
backend and boto3 run it, the Step Functions exporter turns it into states,
``smtrain plan`` prints it. ``ApiCall.params`` is the request dict exactly as
``boto3.client(service).<operation>(**params)`` takes it; a value known only
once an earlier step has run is a :class:`Ref` to that step's result.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from smtrain.core.config import Config
from smtrain.core.sdk_config import SdkDefaults
from smtrain.planning.kinds import TRAINING
from smtrain.planning.spec import DeploySpec, TrainingSpec, encode_hyperparameters
from smtrain.planning.steps import ApiCall, Plan, Step, Upload, Wait

SMTRAIN_TAG = {"Key": "smtrain:managed", "Value": "true"}
LOCAL_IMAGE = "smtrain-local/sklearn"
LOCAL_ROLE = "arn:aws:iam::000000000000:role/smtrain-local"
LOG_LEVEL = "20"


def join_uri(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts if p.strip("/"))])


def channel_uri(value: str, root: str, job_name: str, channel: str, *, local: bool,
                submission: str = "") -> tuple[str, Upload | None]:
    """A channel given as a URI is used as is; a local path is used in place
    on the local backend, or uploaded under the job's prefix for SageMaker."""
    if "://" in value:
        return value, None
    from pathlib import Path

    path = Path(value).resolve()
    if local:
        return path.as_uri(), None
    uri = join_uri(root, job_name, "input", submission, channel) + "/"
    return uri, Upload(step=f"upload-{channel}", kind="data", local_path=str(path), uri=uri)


def with_sdk_defaults(call: ApiCall, sdk: SdkDefaults | None, explicit: Collection[str] = ()) -> ApiCall:
    """``call`` with the SDK's config.yaml defaults filled in (see :mod:`smtrain.planning.sdk_defaults`)."""
    if sdk is None or not sdk.values:
        return call
    from smtrain.planning.sdk_defaults import apply_sdk_defaults

    applied = apply_sdk_defaults(call.operation, call.params, sdk, explicit=explicit)
    return replace(call, params=applied.request, notes=call.notes + applied.notes)


def plan_fit(spec: TrainingSpec, config: Config, *, root: str, image_uri: str, role: str,
             sdk: SdkDefaults | None = None, explicit: Collection[str] = ()) -> Plan:
    """Upload source (and local channels for SageMaker), create the job, wait for it."""
    job = spec.job_name
    source_uri = join_uri(root, job, "source", spec.submission_id, "sourcedir.tar.gz")
    steps: list[Step] = [Upload("upload-source", "source", str(spec.source_dir), source_uri, spec.entry_point)]
    channels = []
    for name, value in spec.channels.items():
        uri, upload = channel_uri(value, root, job, name, local=config.is_local, submission=spec.submission_id)
        if upload:
            steps.append(upload)
        channels.append(_channel(name, uri, sharded=name in spec.sharded))
    request = training_request(spec, config, source_uri, channels, root=root, image_uri=image_uri, role=role)
    steps.append(with_sdk_defaults(ApiCall("training", "sagemaker", "CreateTrainingJob", request), sdk, explicit))
    steps.append(TRAINING.wait("training-done", job))
    return tuple(steps)


def _channel(name: str, uri: str, *, sharded: bool = False) -> dict[str, Any]:
    """A channel as ``TrainingInput(uri, distribution=...)`` sends it (sagemaker/inputs.py, SDK v2)."""
    distribution = "ShardedByS3Key" if sharded else "FullyReplicated"
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": distribution}
        },
    }


def sdk_hyperparameters(spec: TrainingSpec, source_uri: str, region: str) -> dict[str, str]:
    """The user's values JSON-encoded, plus the keys the SDK's framework estimators add."""
    encoded = encode_hyperparameters(spec.hyperparameters)
    encoded.update(
        encode_hyperparameters(
            {
                "sagemaker_program": spec.entry_point,
                "sagemaker_submit_directory": source_uri,
                "sagemaker_container_log_level": int(LOG_LEVEL),
                "sagemaker_job_name": spec.job_name,
                "sagemaker_region": region,
            }
        )
    )
    return encoded


def training_request(
    spec: TrainingSpec, config: Config, source_uri: str, channels: list[dict[str, Any]],
    *, root: str, image_uri: str, role: str,
) -> dict[str, Any]:
    algorithm: dict[str, Any] = {"TrainingImage": image_uri, "TrainingInputMode": "File"}
    if spec.metric_definitions:
        algorithm["MetricDefinitions"] = [{"Name": n, "Regex": r} for n, r in spec.metric_definitions.items()]
    resources: dict[str, Any] = {
        "InstanceType": "local" if config.is_local else (spec.instance_type or config.instance_type),
        "InstanceCount": spec.instance_count or config.instance_count,
        "VolumeSizeInGB": config.volume_size_gb,
    }
    output: dict[str, Any] = {"S3OutputPath": join_uri(root, "output") + "/"}
    request: dict[str, Any] = {
        "TrainingJobName": spec.job_name,
        "AlgorithmSpecification": algorithm,
        "RoleArn": role,
        "OutputDataConfig": output,
        "ResourceConfig": resources,
        "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime_seconds or config.max_runtime_seconds},
        "HyperParameters": sdk_hyperparameters(spec, source_uri, config.resolved_region()),
        "Tags": [dict(SMTRAIN_TAG), *({"Key": k, "Value": v} for k, v in spec.tags.items())],
    }
    if channels:  # optional in the API, and at least one entry when given
        request["InputDataConfig"] = channels
    if spec.environment:
        request["Environment"] = dict(spec.environment)
    if spec.volume_kms_key:
        resources["VolumeKmsKeyId"] = spec.volume_kms_key
    if spec.output_kms_key or config.kms_key:
        output["KmsKeyId"] = spec.output_kms_key or config.kms_key
    if spec.subnets or spec.security_groups:
        request["VpcConfig"] = {"Subnets": list(spec.subnets), "SecurityGroupIds": list(spec.security_groups)}
    if spec.network_isolation:
        request["EnableNetworkIsolation"] = True
    if spec.keep_alive_seconds:
        resources["KeepAlivePeriodInSeconds"] = spec.keep_alive_seconds
    if spec.spot:
        request["EnableManagedSpotTraining"] = True
        request["StoppingCondition"]["MaxWaitTimeInSeconds"] = (
            spec.max_wait_seconds or request["StoppingCondition"]["MaxRuntimeInSeconds"])
        checkpoints = spec.checkpoint_uri or join_uri(root, spec.job_name, "checkpoints") + "/"
        request["CheckpointConfig"] = {"S3Uri": checkpoints}
    return request


def serving_environment(program: str, submit_directory: str, region: str) -> dict[str, str]:
    """The framework image's serving variables; a job without a program (a custom image) sends none of its own."""
    environment = {
        "SAGEMAKER_PROGRAM": program,
        "SAGEMAKER_SUBMIT_DIRECTORY": submit_directory,
        "SAGEMAKER_CONTAINER_LOG_LEVEL": LOG_LEVEL,
        "SAGEMAKER_REGION": region,
    }
    return {key: value for key, value in environment.items() if value}


def model_call(model_name: str, *, image_uri: str, model_data: Any, environment: dict[str, str], role: str,
               tags: list[dict[str, str]]) -> ApiCall:
    """CreateModel for a model served on ``image_uri`` (what ``deploy`` and ``transform`` create)."""
    return ApiCall("model", "sagemaker", "CreateModel", {
        "ModelName": model_name,
        "PrimaryContainer": {"Image": image_uri, "ModelDataUrl": model_data, "Environment": environment},
        "ExecutionRoleArn": role,
        "Tags": tags,
    })


def plan_deploy(
    spec: DeploySpec, config: Config, *, image_uri: str, role: str, model_data: Any,
    program: str, submit_directory: str, update: bool = False, suffix: str = "",
    tags: list[dict[str, str]] | None = None, sdk: SdkDefaults | None = None, explicit: Collection[str] = (),
) -> Plan:
    """CreateModel, CreateEndpointConfig, CreateEndpoint (or UpdateEndpoint), wait for InService.

    ``model_data`` is the model.tar.gz URI, or a :class:`Ref` to the training result.
    An update names the new model and config ``<endpoint>-<suffix>`` so they
    do not collide with the ones the endpoint still runs on.
    """
    endpoint = spec.endpoint_name or spec.job_name
    model_name = config_name = f"{endpoint[: 62 - len(suffix)]}-{suffix}" if suffix else endpoint
    all_tags = [dict(SMTRAIN_TAG), *(tags or [])]
    environment = serving_environment(program, submit_directory, config.resolved_region())
    if spec.workers:
        environment["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(spec.workers)
    variant: dict[str, Any] = {"VariantName": "AllTraffic", "ModelName": model_name}
    if spec.serverless_memory_mb:
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": spec.serverless_memory_mb,
            "MaxConcurrency": spec.serverless_max_concurrency or 5,
        }
    else:
        variant.update(
            InitialInstanceCount=spec.instance_count,
            InstanceType="local" if config.is_local else (spec.instance_type or config.serving_instance_type),
            InitialVariantWeight=1.0,
        )
    endpoint_call = "UpdateEndpoint" if update else "CreateEndpoint"
    endpoint_params: dict[str, Any] = {"EndpointName": endpoint, "EndpointConfigName": config_name}
    if not update:
        endpoint_params["Tags"] = all_tags
    calls = (
        model_call(model_name, image_uri=image_uri, model_data=model_data, environment=environment, role=role,
                   tags=all_tags),
        ApiCall("endpoint-config", "sagemaker", "CreateEndpointConfig", {
            "EndpointConfigName": config_name, "ProductionVariants": [variant], "Tags": all_tags,
        }),
        ApiCall("endpoint", "sagemaker", endpoint_call, endpoint_params),
    )
    return (
        *(with_sdk_defaults(c, sdk, explicit) for c in calls),
        Wait("endpoint-ready", "sagemaker", "DescribeEndpoint", {"EndpointName": endpoint},
             "EndpointStatus", ("InService",), ("Failed", "UpdateRollbackFailed")),
    )


def plan_teardown(endpoint: str, config_name: str, model_names: list[str]) -> Plan:
    """Delete the endpoint, its config and its models, in that order."""
    steps: list[Step] = [
        ApiCall("delete-endpoint", "sagemaker", "DeleteEndpoint", {"EndpointName": endpoint}),
        ApiCall("delete-endpoint-config", "sagemaker", "DeleteEndpointConfig", {"EndpointConfigName": config_name}),
    ]
    steps += [ApiCall(f"delete-model-{m}", "sagemaker", "DeleteModel", {"ModelName": m}) for m in model_names]
    return tuple(steps)

"""The Task parameters of a pipeline: the plans' requests, with run-time values as JSONPath.

Each request comes from the function that builds it for `smtrain fit`,
`register` and `deploy` (so the keys are the same), then every value known
only at run time is swapped for a ``"Key.$": "<JSONPath or intrinsic>"``.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from smtrain.core.config import Config
from smtrain.planning.model_package import plan_register
from smtrain.planning.plan import plan_deploy, plan_fit
from smtrain.planning.spec import decode_hyperparameters
from smtrain.planning.steps import ApiCall, Plan, Ref, Upload

from .spec import PipelineSpec

EXPIRES_TAG = "smtrain:expires-at"
RUN_TIME = "<run time>"  # stands for a value the plan functions want but the pipeline binds later


def literal(text: str) -> str:
    """``text`` as a string literal inside an intrinsic function."""
    escaped = "".join("\\" + ch if ch in "'{}\\" else ch for ch in text)
    return f"'{escaped}'"


def resource_name(spec: PipelineSpec, role: str, *, attempt: bool = False) -> str:
    """``<pipeline>-<execution>-<role>[-<retry count>]``: unique per execution and per retry."""
    prefix = literal(spec.name)[1:-1]
    if attempt:
        return f"States.Format('{prefix}-{{}}-{role}-{{}}', $$.Execution.Name, $$.State.RetryCount)"
    return f"States.Format('{prefix}-{{}}-{role}', $$.Execution.Name)"


def bind(request: dict[str, Any], path: str, expression: str) -> None:
    """Replace the value at dotted ``path`` (list indexes as numbers) by a run-time ``expression``."""
    *parents, key = path.split(".")
    node: Any = request
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    items = list(node.items())
    node.clear()
    for name, value in items:  # keep the key where the plan put it
        node.update({f"{key}.$": expression} if name == key else {name: value})


def fit_plan(spec: PipelineSpec, config: Config, *, root: str, image_uri: str, role: str) -> Plan:
    """`smtrain plan fit` for the pipeline: the job named after the pipeline, so the source has a stable URI."""
    return plan_fit(replace(spec.training, job_name=spec.name), config, root=root, image_uri=image_uri, role=role)


def uploads(plan: Plan) -> list[Upload]:
    return [step for step in plan if isinstance(step, Upload)]


def call_params(plan: Plan, step: str) -> dict[str, Any]:
    found = next(s for s in plan if isinstance(s, ApiCall) and s.step == step)
    return copy.deepcopy(dict(found.params))


def training_parameters(spec: PipelineSpec, plan: Plan, root: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The CreateTrainingJob Task parameters, and the defaults the execution input may override."""
    request = call_params(plan, "training")
    hyperparameters = request["HyperParameters"]
    defaults: dict[str, Any] = {
        "channels": {},
        "hyperparameters": {k: v for k, v in hyperparameters.items() if not k.startswith("sagemaker_")},
        "instance_type": request["ResourceConfig"]["InstanceType"],
        "instance_count": request["ResourceConfig"]["InstanceCount"],
    }
    bind(request, "TrainingJobName", resource_name(spec, "train", attempt=True))
    for index, channel in enumerate(request["InputDataConfig"]):
        name = channel["ChannelName"]
        defaults["channels"][name] = channel["DataSource"]["S3DataSource"]["S3Uri"]
        bind(request, f"InputDataConfig.{index}.DataSource.S3DataSource.S3Uri", f"$.channels[{literal(name)}]")
    bind(request, "ResourceConfig.InstanceType", "$.args.instance_type")
    bind(request, "ResourceConfig.InstanceCount", "$.args.instance_count")
    bind(request, "HyperParameters", "States.JsonMerge($.hyperparameters, $.sdk, false)")
    if "CheckpointConfig" in request:
        prefix = literal(f"{root.rstrip('/')}/{spec.name}-")[1:-1]
        bind(request, "CheckpointConfig.S3Uri", f"States.Format('{prefix}{{}}/checkpoints/', $$.Execution.Name)")
    return request, defaults


def sdk_hyperparameters(plan: Plan) -> dict[str, Any]:
    """The ``sagemaker_*`` keys the SDK adds; the job name one is the execution's."""
    request = call_params(plan, "training")
    keys = {k: v for k, v in request["HyperParameters"].items() if k.startswith("sagemaker_")}
    keys.pop("sagemaker_job_name", None)
    keys["sagemaker_job_name.$"] = "States.Format('\"{}\"', $$.Execution.Name)"
    return keys


def register_parameters(spec: PipelineSpec, plan: Plan, *, image_uri: str, region: str) -> dict[str, dict[str, Any]]:
    """CreateModelPackageGroup and CreateModelPackage, as `smtrain plan register` prints them."""
    training = call_params(plan, "training")
    job = {"TrainingJobName": RUN_TIME, "ModelArtifacts": {"S3ModelArtifacts": RUN_TIME},
           "HyperParameters": training["HyperParameters"]}
    steps = plan_register(job, group=spec.group, approve=spec.approve, image_uri=image_uri, region=region)
    group, package = call_params(steps, "model-package-group"), call_params(steps, "model-package")
    bind(package, "ModelPackageDescription",
         "States.Format('Trained by SageMaker training job {}', $.training.TrainingJobName)")
    bind(package, "InferenceSpecification.Containers.0.Image", "$.training.TrainingImage")
    bind(package, "InferenceSpecification.Containers.0.ModelDataUrl", "$.training.ModelArtifacts.S3ModelArtifacts")
    bind(package, "ModelApprovalStatus", "$.gate.status")
    bind(package, "CustomerMetadataProperties.smtrain:training-job", "$.training.TrainingJobName")
    return {"group": group, "package": package}


def deploy_parameters(spec: PipelineSpec, plan: Plan, config: Config, *, role: str, region: str
                      ) -> dict[str, dict[str, Any]]:
    """CreateModel, CreateEndpointConfig, CreateEndpoint and UpdateEndpoint, as `smtrain plan deploy` prints them."""
    hyperparameters = decode_hyperparameters(call_params(plan, "training")["HyperParameters"])
    arguments: dict[str, Any] = dict(
        image_uri=RUN_TIME, role=role, model_data=Ref("training", "ModelArtifacts.S3ModelArtifacts"),
        program=str(hyperparameters.get("sagemaker_program", "")),
        submit_directory=str(hyperparameters.get("sagemaker_submit_directory", "")),
        tags=ttl_tags(spec.deploy.ttl_seconds or 0),
    )
    created = plan_deploy(spec.deploy, config, **arguments)
    updated = plan_deploy(spec.deploy, config, update=True, suffix="v", **arguments)
    model, endpoint_config = call_params(created, "model"), call_params(created, "endpoint-config")
    create, update = call_params(created, "endpoint"), call_params(updated, "endpoint")
    bind(model, "ModelName", "$.names.model")
    bind(model, "PrimaryContainer.Image", "$.training.TrainingImage")
    bind(model, "PrimaryContainer.ModelDataUrl", "$.training.ModelArtifacts.S3ModelArtifacts")
    bind(endpoint_config, "EndpointConfigName", "$.names.config")
    bind(endpoint_config, "ProductionVariants.0.ModelName", "$.names.model")
    for request in (create, update):
        bind(request, "EndpointName", "$.args.endpoint_name")
        bind(request, "EndpointConfigName", "$.names.config")
    for request in (model, endpoint_config, create):
        for index, tag in enumerate(request.get("Tags", [])):
            if tag["Key"] == EXPIRES_TAG:
                bind(request, f"Tags.{index}.Value", "$.expires_at")
    return {"model": model, "config": endpoint_config, "create": create, "update": update}


def ttl_tags(ttl_seconds: int) -> list[dict[str, str]]:
    """The tag `smtrain deploy --ttl` writes; its time is computed at run time (the "Set expiry" state)."""
    return [{"Key": EXPIRES_TAG, "Value": RUN_TIME}] if ttl_seconds else []


def transform_parameters(spec: PipelineSpec, config: Config, root: str) -> dict[str, Any]:
    """CreateTransformJob, as `smtrain plan transform` prints it, on the model the pipeline created; its input
    is the execution's ``transform_input``, its output ``<root>/output/<pipeline>-<execution>-transform/``."""
    from smtrain.planning.transform import transform_request

    assert spec.transform is not None
    request = transform_request(spec.transform, config, model_name=RUN_TIME, input_uri=RUN_TIME, output_uri=RUN_TIME)
    bind(request, "TransformJobName", resource_name(spec, "transform", attempt=True))
    bind(request, "ModelName", "$.names.model")
    bind(request, "TransformInput.DataSource.S3DataSource.S3Uri", "$.args.transform_input")
    prefix = literal(f"{root.rstrip('/')}/output/{spec.name}-")[1:-1]
    bind(request, "TransformOutput.S3OutputPath", f"States.Format('{prefix}{{}}-transform/', $$.Execution.Name)")
    return request

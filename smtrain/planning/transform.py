"""Batch transform plans: CreateModel (the source's model, as ``deploy`` creates it), CreateTransformJob, wait.

The request is SDK v2's ``Transformer.transform`` request (``sagemaker/transformer.py`` ``_TransformJob
._load_config`` and ``sagemaker/session.py`` ``_get_transform_request``): a field is sent only when it
was given, ``DataProcessing`` holds only the filters and join given, and ``TransformInput`` names an
``S3Prefix``. tests/functional/test_transform_parity.py compares it with SDK v2's, field for field.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from smtrain.core.config import Config
from smtrain.core.sdk_config import SdkDefaults
from smtrain.planning.kinds import TRANSFORM
from smtrain.planning.plan import SMTRAIN_TAG, channel_uri, join_uri, model_call, serving_environment, with_sdk_defaults
from smtrain.planning.steps import ApiCall, Plan, Step

SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
STRATEGIES = ("MultiRecord", "SingleRecord")
ASSEMBLE = ("None", "Line")
JOIN_SOURCES = ("None", "Input")
COMPRESSION = ("None", "Gzip")


@dataclass(frozen=True)
class TransformSpec:
    """What ``smtrain transform`` / ``sm.transform`` asked for; empty and None values are not sent."""

    source: str
    input_uri: str
    job_name: str
    output_uri: str = ""
    content_type: str = ""
    accept: str = ""
    split_type: str = ""
    compression: str = ""
    strategy: str = ""
    max_payload_mb: int | None = None
    max_concurrent: int | None = None
    assemble_with: str = ""
    input_filter: str = ""
    output_filter: str = ""
    join_source: str = ""
    instance_type: str = ""
    instance_count: int = 1
    environment: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    output_kms_key: str = ""
    volume_kms_key: str = ""
    submission_id: str = ""


@dataclass(frozen=True)
class ServedModel:
    """The model a transform serves: created here (``image`` set) or one that exists (``image`` empty)."""

    model_name: str
    image: str = ""
    model_data: Any = ""
    program: str = ""
    submit_directory: str = ""


def default_output(root: str, job_name: str) -> str:
    """Beside the training jobs' artifacts: ``<root>/output/<transform job>/``."""
    return join_uri(root, "output", job_name) + "/"


def transform_request(spec: TransformSpec, config: Config, *, model_name: str, input_uri: str,
                      output_uri: str, creates_model: bool = True) -> dict[str, Any]:
    """CreateTransformJob. For a model it creates, as ``estimator.transformer()`` does, the SDK sends the
    model's Environment plus the job's (``{}`` when neither has any: estimator.py ``transformer``); for an
    existing model (``Transformer(model_name)``), the job's only when it has one."""
    transform_input: dict[str, Any] = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}}}
    optional_input = (("ContentType", spec.content_type), ("CompressionType", spec.compression),
                      ("SplitType", spec.split_type))
    transform_input.update({key: value for key, value in optional_input if value})
    output: dict[str, Any] = {"S3OutputPath": output_uri}
    optional_output = (("Accept", spec.accept), ("AssembleWith", spec.assemble_with),
                       ("KmsKeyId", spec.output_kms_key or config.kms_key))
    output.update({key: value for key, value in optional_output if value})
    resources: dict[str, Any] = {
        "InstanceCount": spec.instance_count,
        "InstanceType": "local" if config.is_local else (spec.instance_type or config.instance_type),
    }
    if spec.volume_kms_key:
        resources["VolumeKmsKeyId"] = spec.volume_kms_key
    request: dict[str, Any] = {"TransformJobName": spec.job_name, "ModelName": model_name,
                               "TransformInput": transform_input, "TransformOutput": output,
                               "TransformResources": resources}
    if spec.strategy:
        request["BatchStrategy"] = spec.strategy
    if spec.max_concurrent is not None:
        request["MaxConcurrentTransforms"] = spec.max_concurrent
    if spec.max_payload_mb is not None:
        request["MaxPayloadInMB"] = spec.max_payload_mb
    if spec.environment or creates_model:
        request["Environment"] = dict(spec.environment)
    request["Tags"] = [dict(SMTRAIN_TAG), *({"Key": k, "Value": v} for k, v in spec.tags.items())]
    processing = {key: value for key, value in (("InputFilter", spec.input_filter), ("OutputFilter",
                                                                                    spec.output_filter),
                                                ("JoinSource", spec.join_source)) if value}
    if processing:
        request["DataProcessing"] = processing
    return request


def plan_transform(spec: TransformSpec, config: Config, served: ServedModel, *, root: str, role: str,
                   sdk: SdkDefaults | None = None, explicit: Collection[str] = ()) -> Plan:
    """Upload a local input (SageMaker), create the model (unless it exists), create the job, wait for it."""
    steps: list[Step] = []
    input_uri, upload = channel_uri(spec.input_uri, root, spec.job_name, "transform", local=config.is_local,
                                    submission=spec.submission_id)
    if upload is not None:
        steps.append(upload)
    if served.image:
        environment = serving_environment(served.program, served.submit_directory, config.resolved_region())
        tags = [dict(SMTRAIN_TAG), *({"Key": k, "Value": v} for k, v in spec.tags.items())]
        steps.append(with_sdk_defaults(model_call(served.model_name, image_uri=served.image,
                                                  model_data=served.model_data, environment=environment,
                                                  role=role, tags=tags), sdk, explicit))
    output_uri = output_location(spec.output_uri, root, spec.job_name, local=config.is_local)
    request = transform_request(spec, config, model_name=served.model_name, input_uri=input_uri,
                                output_uri=output_uri, creates_model=bool(served.image))
    steps.append(with_sdk_defaults(ApiCall("transform", "sagemaker", TRANSFORM.create, request), sdk, explicit))
    steps.append(TRANSFORM.wait("transform-done", spec.job_name))
    return tuple(steps)


def output_location(value: str, root: str, job_name: str, *, local: bool) -> str:
    """``--output``: a URI as given; a local path as a file:// URI (local backend); default beside the artifacts."""
    if not value:
        return default_output(root, job_name)
    if "://" in value or not local:
        return value
    from pathlib import Path

    return Path(value).resolve().as_uri() + "/"

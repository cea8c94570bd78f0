"""A CreateTrainingJob request checked for what the local backend can run, before anything is recorded.

botocore's validator has already checked the request's shape (``smtrain.planning.validation``);
these are the local backend's own limits: the scikit-learn framework image,
no instance groups (``InstanceCount`` N runs N processes), ``file://`` outputs; ``s3://`` channels
are downloaded when the job starts (:func:`smtrain.files.s3_cache.fetch_s3`).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from smtrain.backends.local.errors import client_error
from smtrain.core.uris import to_path
from smtrain.planning.plan import LOCAL_IMAGE
from smtrain.planning.spec import NAME_PATTERN, decode_hyperparameters

REQUIRED = ("TrainingJobName", "AlgorithmSpecification", "RoleArn", "OutputDataConfig",
            "ResourceConfig", "StoppingCondition")
FRAMEWORK_IMAGE_MARKER = "sagemaker-scikit-learn"
SAGEMAKER_BACKEND_HINT = "run it with the sagemaker backend (SMTRAIN_BACKEND=sagemaker)"


def _invalid(message: str) -> ClientError:
    return client_error("CreateTrainingJob", "ValidationException", message)


def validate_request(request: dict[str, Any]) -> None:
    """Refuse, as SageMaker would (a ValidationException), what the local backend cannot run, saying why."""
    for key in REQUIRED:
        if not request.get(key):
            raise _invalid(f"1 validation error detected: Value null at '{key[0].lower() + key[1:]}' "
                           "failed to satisfy constraint: Member must not be null")
    if not NAME_PATTERN.match(request["TrainingJobName"]):
        raise _invalid(f"Value '{request['TrainingJobName']}' at 'trainingJobName' failed to satisfy constraint: "
                       f"Member must satisfy regular expression pattern: {NAME_PATTERN.pattern}")
    _validate_algorithm(request["AlgorithmSpecification"])
    _validate_resources(request["ResourceConfig"])
    output = request["OutputDataConfig"].get("S3OutputPath", "")
    if not output.startswith("file://"):
        raise _invalid(f"The local backend writes outputs to file:// URIs, not {output!r}; "
                       f"use the local store, or {SAGEMAKER_BACKEND_HINT}")
    names = [c.get("ChannelName", "") for c in request.get("InputDataConfig", [])]
    if len(set(names)) != len(names):
        raise _invalid(f"Channel names must be unique, got {names}")
    for channel in request.get("InputDataConfig", []):
        _validate_channel(channel)
    _validate_hyperparameters(request.get("HyperParameters", {}))


def _validate_algorithm(algorithm: dict[str, Any]) -> None:
    image = algorithm.get("TrainingImage", "")
    if not image:
        raise _invalid(f"The local backend runs the scikit-learn framework image only; give TrainingImage "
                       f"({LOCAL_IMAGE!r} or a sagemaker-scikit-learn image URI), or {SAGEMAKER_BACKEND_HINT}")
    if image.split(":", 1)[0] != LOCAL_IMAGE and FRAMEWORK_IMAGE_MARKER not in image:
        raise _invalid(f"Custom image {image!r} needs Docker, which the local backend does not use; "
                       f"{SAGEMAKER_BACKEND_HINT}, or train with the scikit-learn framework image")
    _validate_framework_version(image)
    if algorithm.get("TrainingInputMode", "File") not in ("File", "FastFile"):
        raise _invalid(f"TrainingInputMode {algorithm['TrainingInputMode']!r} is not supported locally; use File")
    for metric in algorithm.get("MetricDefinitions", []):
        try:
            re.compile(metric.get("Regex", ""))
        except re.error as exc:
            raise _invalid(f"MetricDefinitions {metric.get('Name')!r}: Regex does not compile: {exc}") from None


def _validate_framework_version(image: str) -> None:
    """The job's framework environment must be one this machine can build (or ``current``): refused before
    a job exists, not failed in it."""
    from smtrain.backends.local.environments import frameworks

    version = frameworks.version_from_image(image) or frameworks.default_version()  # no tag: the default's
    if version != frameworks.CURRENT:
        try:
            frameworks.framework(version)
        except frameworks.FrameworkError as exc:
            raise _invalid(str(exc)) from None


def _validate_resources(resources: dict[str, Any]) -> None:
    # InstanceCount N runs N processes (jobs/hosts.py); heterogeneous clusters have no local meaning.
    if resources.get("InstanceGroups"):
        raise _invalid(f"The local backend runs one homogeneous cluster (InstanceCount processes), not "
                       f"InstanceGroups; for heterogeneous clusters {SAGEMAKER_BACKEND_HINT}")


def _validate_channel(channel: dict[str, Any]) -> None:
    name = channel.get("ChannelName", "")
    if name in (".", ".."):
        raise _invalid(f"ChannelName {name!r} is not a folder name; use letters, digits, '.', '-' and '_'")
    source = channel.get("DataSource", {}).get("S3DataSource")
    if not source:
        raise _invalid(f"Channel {name!r}: the local backend reads S3DataSource channels (file:// or s3:// URIs) only")
    uri = source.get("S3Uri", "")
    if not uri.startswith(("s3://", "file://")) or (uri.startswith("file://") and not to_path(uri).exists()):
        raise _invalid(f"Channel {name!r}: no file or directory at {uri!r}; check the path")
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise _invalid(f"Channel {name!r}: S3DataType {source['S3DataType']!r} is not supported locally; use S3Prefix")


def _validate_hyperparameters(encoded: dict[str, Any]) -> None:
    bad = [k for k, v in encoded.items() if not isinstance(v, str)]
    if bad:
        raise _invalid(f"HyperParameters values must be strings (JSON-encode them); not strings: {bad}")
    decoded = decode_hyperparameters(encoded)
    program = str(decoded.get("sagemaker_program") or "")
    if not program:
        raise _invalid("HyperParameters must name the entry point in 'sagemaker_program' (the framework image "
                       "runs that script)")
    if PurePosixPath(program).is_absolute() or ".." in PurePosixPath(program).parts:
        raise _invalid(f"sagemaker_program {program!r} must be a path inside the source archive")
    submit = str(decoded.get("sagemaker_submit_directory") or "")
    if submit.startswith("s3://"):
        raise _invalid(f"sagemaker_submit_directory {submit!r}: the local backend reads source archives from "
                       f"file:// URIs; upload the source to the local store, or {SAGEMAKER_BACKEND_HINT}")
    if submit and (not submit.startswith("file://") or not to_path(submit).exists()):
        raise _invalid(f"sagemaker_submit_directory {submit!r}: no such file:// archive or directory")

"""The SDK's ``config.yaml`` defaults applied to a built request, as SDK v2 applies them. Pure: no I/O.

What the request already holds (from flags and smtrain settings) wins; the file fills in
the rest. Each rule reproduces the SDK v2 call that applies that key (``sagemaker/session.py``
``get_train_request``, ``create_model``, ``create_endpoint_config``, ``create_endpoint``,
``process``, ``transform``; ``sagemaker/utils.py``):

- ``value``: ``resolve_value_from_config``: the request's value, else the file's;
- ``merge``: ``update_nested_dictionary_with_values_from_config``: a nested merge in
  which the request's keys win (``VpcConfig``, ``OutputDataConfig.KmsKeyId``...);
- ``tags``: ``_append_sagemaker_config_tags``: the file's tags whose ``Key`` the request lacks;
- ``variants``: ``update_list_of_dicts_with_values_from_config`` on ``ProductionVariants``,
  item by item, skipped for an item without ``CoreDumpConfig.DestinationS3Uri`` when the file
  brings a ``CoreDumpConfig`` (the SDK's ``required_key_paths``).

A ``VolumeKmsKeyId`` (training) or endpoint-config ``KmsKeyId`` from the file is dropped for an
instance type that takes no EBS volume (``instance_supports_kms``), as the SDK drops it.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from smtrain.core.sdk_config import SdkDefaults

# operation -> (config block, [(request key, rule)])
RULES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "CreateTrainingJob": ("SageMaker.TrainingJob", (
        ("RoleArn", "value"), ("EnableNetworkIsolation", "value"), ("EnableInterContainerTrafficEncryption", "value"),
        ("Environment", "value"), ("VpcConfig", "merge"), ("OutputDataConfig", "merge"),
        ("ResourceConfig", "merge"), ("Tags", "tags"))),
    "CreateModel": ("SageMaker.Model", (
        ("ExecutionRoleArn", "value"), ("EnableNetworkIsolation", "value"), ("VpcConfig", "value"),
        ("PrimaryContainer", "merge"), ("Tags", "tags"))),
    "CreateEndpointConfig": ("SageMaker.EndpointConfig", (
        ("KmsKeyId", "value"), ("ProductionVariants", "variants"), ("Tags", "tags"))),
    "CreateEndpoint": ("SageMaker.Endpoint", (("Tags", "tags"),)),
    "CreateProcessingJob": ("SageMaker.ProcessingJob", (
        ("RoleArn", "value"), ("Environment", "value"), ("NetworkConfig", "merge"),
        ("ProcessingOutputConfig", "merge"), ("ProcessingResources", "merge"), ("Tags", "tags"))),
    "CreateTransformJob": ("SageMaker.TransformJob", (
        ("Environment", "value"), ("TransformOutput", "merge"), ("TransformResources", "merge"),
        ("DataCaptureConfig", "merge"), ("Tags", "tags"))),
}


@dataclass(frozen=True)
class Applied:
    request: dict[str, Any]
    notes: tuple[str, ...]  # "VpcConfig from SageMaker.TrainingJob.VpcConfig (/etc/xdg/sagemaker/config.yaml)"


def apply_sdk_defaults(operation: str, request: Mapping[str, Any], defaults: SdkDefaults,
                       *, explicit: Collection[str] = ()) -> Applied:
    """``request`` with the file's defaults for ``operation``; ``explicit`` keys are never touched
    (a key the request always holds, such as ``RoleArn``, counts as given only when listed)."""
    result = copy.deepcopy(dict(request))
    if operation not in RULES or not defaults.values:
        return Applied(result, ())
    block, rules = RULES[operation]
    notes: list[str] = []
    for key, rule in rules:
        path = f"{block}.{key}"
        value = defaults.get(path)
        if value is None or key in explicit:
            continue
        before = copy.deepcopy(result.get(key))
        _RULES[rule](result, key, value, always_set=key in _ALWAYS_SET and key not in explicit)
        _drop_unsupported_kms(operation, result, request)
        if result.get(key) != before:
            notes.append(f"{key} from {path} ({defaults.origin(path)})")
    return Applied(result, tuple(notes))


# Keys smtrain always fills (the role it resolved): the file's value replaces them unless given explicitly.
_ALWAYS_SET = frozenset({"RoleArn", "ExecutionRoleArn"})


def _value(request: dict[str, Any], key: str, value: Any, *, always_set: bool) -> None:
    if always_set or request.get(key) in (None, {}, [], False):
        request[key] = value


def _merge(request: dict[str, Any], key: str, value: Any, *, always_set: bool) -> None:
    merged = copy.deepcopy(value)
    _merge_into(merged, request.get(key) or {})
    request[key] = merged


def _merge_into(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for name, item in extra.items():
        if isinstance(item, Mapping) and isinstance(base.get(name), dict):
            _merge_into(base[name], item)
        else:
            base[name] = copy.deepcopy(item)


def _tags(request: dict[str, Any], key: str, value: Any, *, always_set: bool) -> None:
    tags = list(request.get(key) or [])
    have = {tag.get("Key") for tag in tags}
    tags += [dict(tag) for tag in value if tag.get("Key") not in have]
    request[key] = tags


def _variants(request: dict[str, Any], key: str, value: Any, *, always_set: bool) -> None:
    variants = list(request.get(key) or [])
    for index, from_file in enumerate(value[: len(variants)]):
        merged = copy.deepcopy(from_file)
        _merge_into(merged, variants[index])
        if "CoreDumpConfig" in merged and not merged["CoreDumpConfig"].get("DestinationS3Uri"):
            continue
        variants[index] = merged
    request[key] = variants


_RULES = {"value": _value, "merge": _merge, "tags": _tags, "variants": _variants}


def _drop_unsupported_kms(operation: str, result: dict[str, Any], given: Mapping[str, Any]) -> None:
    if operation == "CreateTrainingJob":
        resources = result.get("ResourceConfig", {})
        if ("VolumeKmsKeyId" in resources and "VolumeKmsKeyId" not in given.get("ResourceConfig", {})
                and not instance_supports_kms(str(resources.get("InstanceType", "")))):
            del resources["VolumeKmsKeyId"]
    if operation == "CreateEndpointConfig" and "KmsKeyId" in result and "KmsKeyId" not in given:
        types = [str(v.get("InstanceType", "")) for v in result.get("ProductionVariants", []) if "InstanceType" in v]
        if types and not instance_supports_kms(types[0]):
            del result["KmsKeyId"]


def instance_supports_kms(instance_type: str) -> bool:
    """sagemaker/utils.py ``volume_size_supported``: no EBS volume (so no volume key) on local instances,
    families with a ``d`` (instance storage: c5d, p4d...) and g5, g6, p5, trn1."""
    if instance_type.startswith("local"):
        return False
    parts = instance_type.split(".")
    if len(parts) == 3 and parts[0] == "ml":
        parts = parts[1:]
    if len(parts) != 2:
        return True  # not an instance type smtrain can judge: SageMaker's validation will
    family = parts[0]
    return "d" not in family and not family.startswith(("g5", "g6", "p5", "trn1"))

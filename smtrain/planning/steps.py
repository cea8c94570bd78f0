"""The steps a plan is made of: uploads, API calls, waits, and references to earlier results.

``ApiCall.params`` is the request dict exactly as ``boto3.client(service).<operation>(**params)``
takes it; a value known only once an earlier step has run is a :class:`Ref` to that step's result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Ref:
    """A value from an earlier step's result: ``Ref("training", "ModelArtifacts.S3ModelArtifacts")``."""

    step: str
    path: str


@dataclass(frozen=True)
class Upload:
    """Put local files at a URI: ``source`` packs a source dir, ``data`` syncs a data dir, ``file`` puts one
    file at ``uri``, ``text`` puts ``content`` there."""

    step: str
    kind: str
    local_path: str
    uri: str
    entry_point: str = ""
    content: str = ""


@dataclass(frozen=True)
class ApiCall:
    step: str
    service: str
    operation: str
    params: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # which params came from the SDK's config.yaml (shown by `smtrain plan`)


@dataclass(frozen=True)
class Wait:
    """Poll ``operation`` until ``status_key`` is in ``success`` (or fail on ``failure``)."""

    step: str
    service: str
    operation: str
    params: Mapping[str, Any]
    status_key: str
    success: tuple[str, ...]
    failure: tuple[str, ...]


Step = Upload | ApiCall | Wait
Plan = tuple[Step, ...]


def method_name(operation: str) -> str:
    """``CreateTrainingJob`` (or ``createTrainingJob``, as Step Functions writes it) -> ``create_training_job``."""
    from botocore import xform_name

    return str(xform_name(operation[0].upper() + operation[1:]))


def resolve(value: Any, results: Mapping[str, Mapping[str, Any]]) -> Any:
    """Replace every :class:`Ref` in ``value`` by what it points to in ``results``."""
    if isinstance(value, Ref):
        found: Any = results[value.step]
        for key in value.path.split("."):
            found = found[key]
        return found
    if isinstance(value, Mapping):
        return {k: resolve(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, results) for v in value]
    return value

"""SageMaker's job kinds, one module each; :data:`KINDS` is every consumer's list of them."""

from __future__ import annotations

from smtrain.planning.kinds.base import Column, JobKind
from smtrain.planning.kinds.processing import PROCESSING
from smtrain.planning.kinds.training import TRAINING
from smtrain.planning.kinds.transform import TRANSFORM
from smtrain.planning.kinds.tuning import TUNING

KINDS: tuple[JobKind, ...] = (TRAINING, TUNING, PROCESSING, TRANSFORM)

__all__ = ["KINDS", "PROCESSING", "TRAINING", "TRANSFORM", "TUNING", "Column", "JobKind", "by_create", "by_key",
           "by_operation", "by_sync_resource"]


def by_key(key: str) -> JobKind:
    for kind in KINDS:
        if kind.key == key:
            return kind
    raise KeyError(key)


def by_create(operation: str) -> JobKind | None:
    """The kind whose create operation is ``operation`` (None for any other call)."""
    return next((kind for kind in KINDS if kind.create == operation), None)


def by_operation(operation: str) -> JobKind | None:
    """The kind an operation of any of its verbs (create, describe, stop, list) acts on."""
    return next((kind for kind in KINDS if operation in (kind.create, kind.describe, kind.stop, kind.list)), None)


def by_sync_resource(resource: str) -> JobKind | None:
    """The kind a Task's ``arn:aws:states:::sagemaker:create<Kind>.sync`` resource creates and waits for."""
    return next((kind for kind in KINDS if kind.sync_resource == resource), None)

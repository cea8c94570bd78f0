"""smtrain: train and deploy scikit-learn models on SageMaker, or on this machine.

Importing smtrain is cheap: the API loads on first use, so ``smtrain --help``
and Lambda task handlers do not pay for the data stack.
"""

from __future__ import annotations

import typing

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "Endpoint",
    "Job",
    "Session",
    "SmtrainError",
    "TrainingJob",
    "TransformJob",
    "Tuner",
    "__version__",
]

if typing.TYPE_CHECKING:
    from smtrain.api.resources import Dataset, Endpoint, Job, TrainingJob
    from smtrain.api.session import Session
    from smtrain.api.transform import TransformJob
    from smtrain.api.tuning import Tuner
    from smtrain.core.errors import SmtrainError

_LAZY = {
    "Dataset": "smtrain.api.resources",
    "Endpoint": "smtrain.api.resources",
    "Job": "smtrain.api.resources",
    "Session": "smtrain.api.session",
    "TrainingJob": "smtrain.api.resources",
    "TransformJob": "smtrain.api.transform",
    "Tuner": "smtrain.api.tuning",
    "SmtrainError": "smtrain.core.errors",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'smtrain' has no attribute {name!r}")

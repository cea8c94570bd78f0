"""The backend a configuration asks for (imported only where one is made, so neither backend loads the other)."""

from __future__ import annotations

from smtrain.backends.base import Backend
from smtrain.core.config import Config


def get_backend(config: Config) -> Backend:
    if config.is_local:
        from smtrain.backends.local.backend import LocalBackend

        return LocalBackend(config)
    from smtrain.backends.sagemaker import SageMakerBackend

    return SageMakerBackend(config)

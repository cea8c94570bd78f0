"""The scikit-learn framework image, as the SageMaker SDK knows it.

The SDK maintains the registry accounts and tags per region and version
(``sagemaker/core/image_uri_config/sklearn.json``); smtrain asks it instead
of copying that table. ``sagemaker.core`` takes over a second to import, so
it is imported only when an image URI is actually needed.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from smtrain.errors import UsageError

FRAMEWORK = "sklearn"


def _image_uris() -> Any:
    from sagemaker.core import image_uris

    return image_uris


def version_key(version: str) -> tuple[int, ...]:
    """``"1.2-1"`` -> ``(1, 2, 1)``: the SDK's keys are not PEP 440 versions."""
    return tuple(int(number) for number in re.findall(r"\d+", version))


@cache
def known_versions(scope: str = "") -> tuple[str, ...]:
    """Versions the installed SDK has images for (all scopes, or ``"training"`` / ``"inference"``)."""
    return tuple(sorted(_image_uris().list_versions(FRAMEWORK, scope or None), key=version_key))


def default_version() -> str:
    """The newest version with both a training and an inference image."""
    both = set(known_versions("training")) & set(known_versions("inference"))
    return max(both, key=version_key)


def sklearn_image_uri(region: str, version: str = "", *, scope: str = "training") -> str:
    """The ECR URI of the scikit-learn image for ``region`` and ``version`` (default: newest).

    For scikit-learn the training and inference images are the same image.
    """
    version = version or default_version()
    if version not in known_versions():
        raise UsageError(
            f"unknown scikit-learn framework version {version!r}",
            where="framework version",
            hint=f"use one of: {', '.join(known_versions())} (set SMTRAIN_FRAMEWORK_VERSION)",
        )
    scope = scope if version in known_versions(scope) else "training"
    try:
        return str(_image_uris().retrieve(FRAMEWORK, region=region, version=version, image_scope=scope))
    except ValueError as exc:
        raise UsageError(
            f"no scikit-learn {version} image for region {region!r}: {str(exc).split('.')[0]}",
            where="framework image",
            hint="check SMTRAIN_REGION / AWS_REGION; upgrading sagemaker-core adds new regions",
        ) from exc

"""The scikit-learn framework image, as the SageMaker SDK knows it.

The SDK maintains the registry accounts and tags per region and version
(``sagemaker/core/image_uri_config/sklearn.json``); smtrain asks it instead
of copying that table. ``sagemaker.core`` takes about two seconds to import,
so it is imported only when an image URI is actually needed, and its answers
are kept in ``$XDG_CACHE_HOME/smtrain/image-uris.json`` (``~/.cache`` by
default) under the installed sagemaker-core version: the next `smtrain fit`
or `deploy` skips the import, and upgrading the SDK starts a fresh cache.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from smtrain.core.errors import UsageError

FRAMEWORK = "sklearn"
REPOSITORY = "sagemaker-scikit-learn"
SDK_DISTRIBUTION = "sagemaker-core"


def _image_uris() -> Any:
    from sagemaker.core import image_uris

    return image_uris


def version_key(version: str) -> tuple[int, ...]:
    """``"1.2-1"`` -> ``(1, 2, 1)``: the SDK's keys are not PEP 440 versions."""
    return tuple(int(number) for number in re.findall(r"\d+", version))


def cache_path() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smtrain" / "image-uris.json"


@cache
def _cache() -> dict[str, Any]:
    """The saved answers of the installed SDK version (others are dropped at the next write)."""
    from importlib.metadata import version

    prefix = f"{version(SDK_DISTRIBUTION)}|"
    try:
        saved = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        saved = {}
    entries = saved if isinstance(saved, dict) else {}
    return {"prefix": prefix, "entries": {k: v for k, v in entries.items() if k.startswith(prefix)}}


def _cached(key: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, remembered on disk under the SDK version; a cache that cannot be written is skipped."""
    state = _cache()
    full_key = state["prefix"] + key
    if full_key not in state["entries"]:
        state["entries"][full_key] = compute()
        path = cache_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".part", delete=False) as handle:
                json.dump(state["entries"], handle, indent=1, sort_keys=True)
            os.replace(handle.name, path)
        except OSError:
            pass
    return state["entries"][full_key]


@cache
def known_versions(scope: str = "") -> tuple[str, ...]:
    """Versions the installed SDK has images for (all scopes, or ``"training"`` / ``"inference"``)."""
    versions = _cached(f"versions|{scope}", lambda: list(_image_uris().list_versions(FRAMEWORK, scope or None)))
    return tuple(sorted(versions, key=version_key))


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
        return str(_cached(f"uri|{region}|{version}|{scope}", lambda: _image_uris().retrieve(
            FRAMEWORK, region=region, version=version, image_scope=scope)))
    except ValueError as exc:
        raise UsageError(
            f"no scikit-learn {version} image for region {region!r}: {str(exc).split('.')[0]}",
            where="framework image",
            hint="check SMTRAIN_REGION / AWS_REGION; upgrading sagemaker-core adds new regions",
        ) from exc


def framework_version_of(image_uri: str) -> str:
    """``.../sagemaker-scikit-learn:1.4-2-cpu-py3`` -> ``"1.4-2"``; ``""`` for any other image."""
    repository, _, tag = image_uri.rpartition("/")[2].partition(":")
    match = re.fullmatch(r"(.+)-cpu-py\d*", tag)
    return match.group(1) if repository == REPOSITORY and match else ""


def serving_image_uri(training_image: str, region: str) -> str:
    """The image a training job's model is served on, as the SDK's ``attach`` then ``deploy`` pick it.

    A scikit-learn job is served on the inference image of its own framework
    version (for scikit-learn, the same repository and tag as the training
    image); any other image -- a custom ECR image, or a version this SDK does
    not know -- serves the model itself.
    """
    version = framework_version_of(training_image)
    if not version or version not in known_versions():
        return training_image
    return sklearn_image_uri(region, version, scope="inference")

"""The SageMaker SDK's ``config.yaml`` defaults, read as SDK v2 reads them (``sagemaker/config/config.py``).

- the admin file ``<site config dir>/sagemaker/config.yaml`` (``/etc/xdg/sagemaker/config.yaml``
  on Linux, by platformdirs' rules), or ``SAGEMAKER_ADMIN_CONFIG_OVERRIDE``;
- the user file ``<user config dir>/sagemaker/config.yaml`` (``~/.config/sagemaker/config.yaml``),
  or ``SAGEMAKER_USER_CONFIG_OVERRIDE``;
- a path that is a folder means its ``config.yaml``; a default path that does not exist is
  skipped, an override that does not exist is an error (as in the SDK);
- each file is parsed with ``yaml.safe_load`` and checked against the SDK's own schema
  (shipped by sagemaker-core), then the user file is merged over the admin file
  (botocore's ``merge_dicts``: nested dicts merge, everything else is replaced).

Nothing is read at import time: call :func:`load_sdk_defaults`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smtrain.core.errors import UsageError

ADMIN_OVERRIDE = "SAGEMAKER_ADMIN_CONFIG_OVERRIDE"
USER_OVERRIDE = "SAGEMAKER_USER_CONFIG_OVERRIDE"
CONFIG_FILE = "config.yaml"
SESSION = "SageMaker.PythonSDK.Modules.Session"


@dataclass(frozen=True)
class SdkDefaults:
    """The merged defaults, and the files they came from (admin first, user last)."""

    values: Mapping[str, Any] = field(default_factory=dict)
    layers: tuple[tuple[str, Mapping[str, Any]], ...] = ()

    def get(self, path: str) -> Any:
        """The value at a dotted path (``SageMaker.TrainingJob.RoleArn``), a copy; None when absent."""
        return copy.deepcopy(_lookup(self.values, path))

    def origin(self, path: str) -> str:
        """The file whose value is in effect at ``path`` (the user file wins over the admin file)."""
        for name, layer in reversed(self.layers):
            if _lookup(layer, path) is not None:
                return name
        return ""

    @property
    def files(self) -> list[str]:
        return [name for name, _ in self.layers]


def default_paths() -> tuple[str, str]:
    """The SDK's default admin and user file paths (platformdirs' site and user config dirs)."""
    from platformdirs import site_config_dir, user_config_dir

    return (os.path.join(site_config_dir("sagemaker"), CONFIG_FILE),
            os.path.join(user_config_dir("sagemaker"), CONFIG_FILE))


def load_sdk_defaults(environ: Mapping[str, str] | None = None) -> SdkDefaults:
    environ = os.environ if environ is None else environ
    admin, user = default_paths()
    layers = []
    for variable, default in ((ADMIN_OVERRIDE, admin), (USER_OVERRIDE, user)):
        path = environ.get(variable) or default
        data = _read(Path(path), required=bool(environ.get(variable)), variable=variable)
        if data:
            layers.append((path, data))
    merged: dict[str, Any] = {}
    for _, data in layers:
        _merge(merged, copy.deepcopy(data))
    return SdkDefaults(merged, tuple(layers))


def _read(path: Path, *, required: bool, variable: str) -> dict[str, Any]:
    file = path / CONFIG_FILE if path.is_dir() else path
    if not file.is_file():
        if required:
            raise UsageError(f"no SageMaker SDK config file at {path}", where=variable,
                             hint=f"point {variable} at a config.yaml (or the folder holding one), or unset it")
        return {}
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError("not UTF-8 text", where=str(file), hint="save the file as UTF-8") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"not valid YAML: {exc}".replace("\n", " "), where=str(file),
                         hint="fix the YAML syntax (see the SageMaker SDK's config.yaml documentation)") from None
    if data is None:
        return {}
    _validate(data, str(file))
    return dict(data)


def _validate(data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise UsageError(f"the file must hold a mapping (SchemaVersion, SageMaker: ...), got {type(data).__name__}",
                         where=where, hint="start the file with `SchemaVersion: '1.0'` and `SageMaker:`")
    schema = _sdk_schema()
    if schema is None:
        return
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is not None:
        at = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise UsageError(f"{at}: {error.message}", where=where,
                         hint="the file must follow the SageMaker SDK's config schema (the SDK refuses it too)")


def _sdk_schema() -> dict[str, Any] | None:
    """The schema sagemaker-core ships, loaded from its file alone: importing ``sagemaker.core``
    would import the whole SDK (over 2 s)."""
    import importlib.util
    from importlib import metadata

    try:
        path = metadata.distribution("sagemaker-core").locate_file("sagemaker/core/config/config_schema.py")
    except metadata.PackageNotFoundError:
        return None
    if not Path(str(path)).is_file():
        return None
    spec = importlib.util.spec_from_file_location("_smtrain_sdk_config_schema", str(path))
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    schema = getattr(module, "SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA", None)
    return schema if isinstance(schema, dict) else None


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """botocore.utils.merge_dicts without list appending: ``extra`` wins, nested dicts merge."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    found: Any = data
    for part in path.split("."):
        if not isinstance(found, Mapping) or part not in found:
            return None
        found = found[part]
    return found

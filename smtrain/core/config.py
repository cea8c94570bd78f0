"""One configuration object, read from four places.

Precedence, highest first:

1. explicit values (CLI flags, keyword arguments of the Python API);
2. the process environment, then ``.env`` in the working directory
   (a variable set in the environment wins over the same one in ``.env``);
3. ``smtrain.toml`` in the working directory (keys without the ``SMTRAIN_``
   prefix, lower-case: ``backend = "sagemaker"``);
4. the defaults below.

"The working directory" is the project root, and the store lives in it; see
:data:`STORE_LOCATION` (the one definition the ``--home`` help and the README
repeat) and :func:`find_project`.

Nothing is read at import time: call :func:`load_config`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from smtrain.core.errors import UsageError

BACKENDS = ("local", "sagemaker")
CONFIG_FILE = "smtrain.toml"
HOME_DIR = ".smtrain"
# Where the local store is: said once, here; `--home`'s help prints it and a test holds the README to it.
STORE_LOCATION = (
    "$SMTRAIN_HOME if set, else .smtrain/ in the project: the nearest folder, from the current one up to "
    "the root of its git repository, that holds smtrain.toml or .smtrain/ (the user's home folder counts "
    "only when it is the current folder), else the current folder"
)


@dataclass(frozen=True)
class Config:
    """Every setting smtrain reads. Environment names are ``SMTRAIN_<FIELD>``."""

    backend: str = "local"
    home: Path = Path(HOME_DIR)
    region: str = ""
    role: str = ""
    bucket: str = ""
    prefix: str = "smtrain"
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_seconds: int = 86400
    framework_version: str = ""
    serving_instance_type: str = "ml.m5.large"
    profile: str = ""
    runtime_port: int = 0
    poll_seconds: float = 10.0  # how often the sagemaker backend asks AWS for a status
    kms_key: str = ""  # SSE-KMS for every upload and the job output (sagemaker backend)
    max_extract_bytes: int = 10 * 1024**3  # limits on unpacking an archive (see smtrain.files.archives)
    max_extract_members: int = 100_000
    resource_metadata: str = "/opt/ml/metadata/resource-metadata.json"  # where notebook instances describe themselves
    max_extract_ratio: int = 100
    job_namespace: str = "auto"  # local jobs see their folder at /opt/ml: auto (where Linux allows) or off
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def is_local(self) -> bool:
        return self.backend == "local"

    def resolved_region(self) -> str:
        return self.region or "us-east-1"


_INT_FIELDS = {f.name for f in fields(Config) if f.type in ("int", int)}
_FLOAT_FIELDS = {f.name for f in fields(Config) if f.type in ("float", float)}
_SETTABLE = [f.name for f in fields(Config) if f.name != "sources"]
# Standard AWS variables honoured when the smtrain-specific one is absent.
_AWS_FALLBACKS = {"region": ("AWS_REGION", "AWS_DEFAULT_REGION"), "profile": ("AWS_PROFILE",)}


def env_name(name: str) -> str:
    return f"SMTRAIN_{name.upper()}"


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Merge overrides > environment/.env > smtrain.toml > defaults."""
    here = cwd or Path.cwd()
    cwd = find_project(here) or here
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, Mapping[str, Any]]] = [
        ("flag", {k: v for k, v in (overrides or {}).items() if v not in (None, "")}),
        ("environment", _from_environ(environ)),
        (".env", _from_environ(_read_dotenv(cwd / ".env"))),
        (CONFIG_FILE, _read_toml(cwd / CONFIG_FILE)),
    ]
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for source, layer in layers:
        for key, value in layer.items():
            if key not in _SETTABLE:
                raise UsageError(f"unknown setting {key!r}", where=source, hint=unknown_setting_hint(key, source))
            if key not in values:
                values[key] = _coerce(key, value, source)
                sources[key] = source
    config = replace(Config(), **values, sources=sources)
    if config.backend not in BACKENDS:
        raise UsageError(
            f"unknown backend {config.backend!r}",
            where=sources.get("backend", "config"),
            hint=f"use one of: {', '.join(BACKENDS)}",
        )
    _check_values(config, sources)
    if not config.home.is_absolute():
        # A flag or variable is relative to where the user stands; a file setting to the project.
        base = here if sources.get("home") in ("flag", "environment") else cwd
        config = replace(config, home=(base / config.home))
    return config


def unknown_setting_hint(key: str, source: str) -> str:
    """'did you mean SMTRAIN_REGION?' (or region, in smtrain.toml), else the list of known settings."""
    from smtrain.core.spelling import did_you_mean

    render = "{}" if source in ("flag", CONFIG_FILE) else env_name("{}")
    return did_you_mean(key, _SETTABLE, render=render) or f"known settings: {', '.join(_SETTABLE)}"


# SMTRAIN_* variables that are not settings: read elsewhere by smtrain, or set by the workflows it writes.
OTHER_VARIABLES = frozenset({
    "SMTRAIN_DEBUG", "SMTRAIN_FRAMEWORK_CACHE", "SMTRAIN_FRAMEWORK_PYTHON", "SMTRAIN_GITLAB_TOKEN",
    "SMTRAIN_FRAMEWORK_EXACT_PYTHON",  # framework environments: backends/local/environments/pythons.py
    "SMTRAIN_TEST_REAL_AWS",
    "SMTRAIN_LOCAL_TRIALS",  # the local tuner: trials at once beyond the cores (backends/local/tuning/tuner.py)
    # set by smtrain for its own child processes
    "SMTRAIN_HANDOVER_FD", "SMTRAIN_JOB_TOKEN", "SMTRAIN_KEEPER_PID", "SMTRAIN_READY_FD",
    "SMTRAIN_JOB_NAMESPACE_PROBED",  # the tuner's namespace probe, handed to its trials (jobs/sandbox.py)
    "SMTRAIN_SERVING_REQUIREMENTS_INSTALLED",
    # read by the local model server from the model's Environment
    "SMTRAIN_MODEL_SERVER_MAX_GROWTH_MB",
})


def misspelt_settings(environ: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> list[str]:
    """A warning for each SMTRAIN_* name in the environment or the project's .env that smtrain does not know.

    A warning, not an error: such a name is ignored, and other tools may set their own SMTRAIN_* variables.
    """
    environ = os.environ if environ is None else environ
    here = cwd or Path.cwd()
    dotenv = (find_project(here) or here) / ".env"
    known = {env_name(name) for name in _SETTABLE} | OTHER_VARIABLES
    places = [("the environment", environ)]
    if dotenv.is_file():
        places.append((str(dotenv), _read_dotenv(dotenv)))
    warnings = []
    for place, variables in places:
        for name in sorted(variables):
            if name.startswith("SMTRAIN_") and name not in known:
                from smtrain.core.spelling import closest

                near = closest(name.removeprefix("SMTRAIN_").lower(), _SETTABLE)
                hint = (f"did you mean {' or '.join(env_name(n) for n in near)}?" if near
                        else f"known settings: {', '.join(env_name(n) for n in _SETTABLE)}")
                warnings.append(f"{name} (in {place}) is not an smtrain setting and is ignored; {hint}")
    return warnings


# Settings that count or measure something: the least SageMaker accepts (its service model says 1 for each).
_AT_LEAST_ONE = ("instance_count", "volume_size_gb", "max_runtime_seconds")
MAX_PORT = 65535
JOB_NAMESPACE_MODES = ("auto", "off")  # smtrain.backends.local.jobs.sandbox


def _check_values(config: Config, sources: Mapping[str, str]) -> None:
    """Values no run could use are refused here, before anything is written."""
    for key in _AT_LEAST_ONE:
        value = getattr(config, key)
        if value < 1:
            raise UsageError(f"{key} must be at least 1, got {value}", where=sources.get(key, "config"),
                             hint=f"set {env_name(key)} to a whole number of 1 or more")
    if not 0 <= config.runtime_port <= MAX_PORT:
        raise UsageError(f"runtime_port must be a port number 0-{MAX_PORT}, got {config.runtime_port}",
                         where=sources.get("runtime_port", "config"),
                         hint=f"set {env_name('runtime_port')} to a free port, or 0 to pick one")
    if config.job_namespace not in JOB_NAMESPACE_MODES:
        raise UsageError(f"job_namespace must be one of {', '.join(JOB_NAMESPACE_MODES)}, got {config.job_namespace!r}",
                         where=sources.get("job_namespace", "config"),
                         hint=f"set {env_name('job_namespace')} to auto (a private /opt/ml per local job where "
                              "Linux allows it) or off")
    if config.prefix != Config.prefix:
        from smtrain.core.uris import check_prefix

        check_prefix(config.prefix, where=sources.get("prefix", "config"))


def setting_source(config: Config, key: str) -> str:
    """Where a setting came from, for people: ``SMTRAIN_ROLE (environment)``, ``--role``, ``role in smtrain.toml``."""
    source = config.sources.get(key, "")
    if source == "flag":
        return f"--{key.replace('_', '-')} (or a keyword argument)"
    if source == CONFIG_FILE:
        return f"{key} in {CONFIG_FILE}"
    if source:
        return f"{env_name(key)} ({source})"
    return "default"


def find_project(start: Path, *, user_home: Path | None = None) -> Path | None:
    """The nearest folder from ``start`` upwards holding ``smtrain.toml`` or ``.smtrain/``, as git finds a
    repo; the walk ends at the git repository's root and never reaches the user's home from below it
    (a stray ``~/.smtrain`` must not capture every folder under the home)."""
    start = start.absolute()
    home = (user_home or _user_home()).absolute()
    for folder in (start, *start.parents):
        if folder == home and folder != start:
            return None
        if (folder / CONFIG_FILE).is_file() or (folder / HOME_DIR).is_dir():
            return folder
        if folder == home or (folder / ".git").exists():  # .git: a folder (a clone) or a file (a worktree)
            return None
    return None


def _user_home() -> Path:
    try:
        return Path.home()
    except (KeyError, RuntimeError):  # no HOME and no passwd entry
        return Path("/nonexistent-home")


def _from_environ(environ: Mapping[str, str]) -> dict[str, str]:
    found = {name: environ[env_name(name)] for name in _SETTABLE if environ.get(env_name(name))}
    for name, fallbacks in _AWS_FALLBACKS.items():
        for variable in fallbacks:
            if name not in found and environ.get(variable):
                found[name] = environ[variable]
    return found


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    return {k: v for k, v in values.items() if v is not None}


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> UsageError:
    return UsageError(f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})", where=str(path),
                      hint="save the file as UTF-8")


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    from smtrain.core.compat import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(str(exc), where=str(path), hint="fix the TOML syntax") from exc
    table = data.get("smtrain", data)
    if not isinstance(table, dict):
        raise UsageError(f"'smtrain' must be a table of settings, got {table!r}", where=str(path),
                         hint='write the settings under a [smtrain] header, e.g. [smtrain] then backend = "local"')
    settings = dict(table)
    settings.pop("pipeline", None)  # the [pipeline] table holds `smtrain pipeline` options
    return settings


def _coerce(key: str, value: Any, source: str) -> Any:
    if key == "home":
        return Path(str(value)).expanduser()
    if key in _INT_FIELDS:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise UsageError(
                f"{key} must be a whole number, got {value!r}", where=source, hint=f"set {env_name(key)}=<number>"
            ) from None
    if key in _FLOAT_FIELDS:
        return _seconds(key, value, source)
    return str(value)


def _seconds(key: str, value: Any, source: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number >= 0:  # also rejects NaN
        raise UsageError(
            f"{key} must be a number of seconds, got {value!r}", where=source, hint=f"set {env_name(key)}=<seconds>"
        )
    return number

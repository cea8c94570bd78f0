"""SageMaker's own rules for names, values and requests, read from botocore's service model.

Two uses:

- :func:`check_name` and friends check one user value (a job name, a channel
  name, a prefix) against the shape SageMaker defines for it, before anything
  is written, and raise a :class:`UsageError` that names the flag.
- :func:`validate_request` checks a whole request the way boto3 does (botocore's
  ``ParamValidator``: types, required and unknown keys, minimums) and then the
  way the service does (maximums, lengths and patterns, which botocore leaves to
  the server), so the local backend refuses what SageMaker would.

Enums are not checked (the service does; the local backend accepts
``InstanceType="local"``), nor patterns Python's ``re`` cannot read (``\\p{L}``).
A ``file://`` URI stands in for an ``s3://`` one on the local backend.

The service model (a few MB of JSON) is loaded on first use and kept.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from smtrain.core.errors import UsageError
from smtrain.core.uris import DOT_SEGMENTS

NAME_HINT = "use 1-63 letters, digits and hyphens, starting and ending with a letter or digit"


@functools.cache
def service_model() -> Any:
    # The loader, not a botocore session: a session imports the client, waiter and docs machinery too
    # (about 80 ms of every `fit` and `deploy`), and gives the same model.
    from botocore.loaders import create_loader
    from botocore.model import ServiceModel

    return ServiceModel(create_loader().load_service_model("sagemaker", "service-2"), service_name="sagemaker")


@functools.cache
def operations() -> dict[str, str]:
    """boto3 method name -> API operation name (``create_model`` -> ``CreateModel``)."""
    from botocore import xform_name

    return {xform_name(name): name for name in service_model().operation_names}


@functools.cache
def compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # Java-only syntax such as \p{L}: left to the service
        return None


def shape_rules(shape_name: str) -> dict[str, Any]:
    return dict(service_model().shape_for(shape_name).metadata)


def violations(value: Any, rules: Mapping[str, Any]) -> list[str]:
    """The service's words for each rule ``value`` breaks (``Member must have length ...``)."""
    problems = []
    if isinstance(value, str | list | dict):
        if "max" in rules and len(value) > rules["max"]:
            problems.append(f"Member must have length less than or equal to {rules['max']}")
        if "min" in rules and len(value) < rules["min"]:
            problems.append(f"Member must have length greater than or equal to {rules['min']}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "max" in rules and value > rules["max"]:
            problems.append(f"Member must have value less than or equal to {rules['max']}")
        if "min" in rules and value < rules["min"]:
            problems.append(f"Member must have value greater than or equal to {rules['min']}")
    if isinstance(value, str) and rules.get("pattern") and not _stands_in_for_s3(value, rules["pattern"]):
        pattern = compiled(rules["pattern"])
        if pattern is not None and not pattern.fullmatch(value):
            problems.append(f"Member must satisfy regular expression pattern: {rules['pattern']}")
    return problems


def _stands_in_for_s3(value: str, pattern: str) -> bool:
    return value.startswith("file://") and "s3" in pattern


# -- one value -----------------------------------------------------------------------------------


def check_name(value: str, shape: str, *, what: str, where: str, hint: str = NAME_HINT) -> str:
    """``value`` as SageMaker's ``shape`` allows it (pattern and length), else a UsageError naming ``where``."""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be text, got {value!r}", where=where, hint=hint)
    rules = shape_rules(shape)
    problems = violations(value, {**rules, "min": max(1, int(rules.get("min", 1)))})
    if value in DOT_SEGMENTS:
        problems.append("'.' and '..' are not names")
    if problems:
        raise UsageError(f"invalid {what} {value!r}: {problems[0]}", where=where, hint=hint)
    return value


def check_segment(value: str, *, what: str, where: str) -> str:
    """A name that becomes one folder or key segment (a channel, a dataset): SageMaker's ChannelName rules."""
    return check_name(value, "ChannelName", what=what, where=where,
                      hint="use 1-64 letters, digits, '.', '-' and '_' (not '.' or '..')")


def check_relative_path(value: str, *, what: str, where: str) -> str:
    """A path inside a folder: relative, with no ``..`` segment."""
    from pathlib import PurePosixPath, PureWindowsPath

    if not value or PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute():
        raise UsageError(f"{what} {value!r} is not a path inside --source-dir", where=where,
                         hint="give the script's path relative to --source-dir, e.g. train.py or src/train.py")
    if ".." in PurePosixPath(value.replace("\\", "/")).parts:
        raise UsageError(f"{what} {value!r} leaves --source-dir", where=where,
                         hint="put the script inside --source-dir (or point --source-dir at its folder)")
    return value


def check_at_least(value: int | None, minimum: int, *, what: str, where: str, hint: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"{what} must be a whole number of at least {minimum}, got {value!r}", where=where,
                         hint=hint)


def check_regex(name: str, pattern: str, *, where: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"metric {name!r}: the regex {pattern!r} does not compile: {exc}", where=where,
                         hint="give a Python regular expression whose first group captures the number, "
                              "e.g. accuracy=([0-9.]+)") from None


# -- whole requests --------------------------------------------------------------------------------


class RequestInvalid(Exception):
    """A request SageMaker would refuse; ``kind`` is ``param`` (boto3 refuses it) or ``service``."""

    def __init__(self, kind: str, message: str, paths: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.message = message
        self.paths = paths  # the service's names of the members at fault (``inputDataConfig``)
        super().__init__(message)


def validate_request(operation: str, params: Mapping[str, Any]) -> None:
    """Raise :class:`RequestInvalid` if boto3 or the service would refuse ``params``."""
    from botocore.validate import ParamValidator

    shape = service_model().operation_model(operation).input_shape
    report = ParamValidator().validate(dict(params), shape)
    if report.has_errors():
        raise RequestInvalid("param", report.generate_report())
    found = [(path, f"Value {_shown(value)} at '{path}' failed to satisfy constraint: {problem}")
             for path, value, rules in _walk(params, shape, "")
             for problem in violations(value, rules)
             if not isinstance(value, Placeholder)]
    if found:
        count = len(found)
        raise RequestInvalid("service", f"{count} validation error{'s' * (count > 1)} detected: "
                             + "; ".join(problem for _, problem in found), tuple(path for path, _ in found))


class Placeholder(str):
    """Stands for a value known only when the plan runs (a ``Ref``): right type, not checked further."""


def _walk(value: Any, shape: Any, path: str) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """Every (service path, value, rules) in a request, as the service names paths."""
    if shape is None:
        return
    yield path or shape.name, value, dict(shape.metadata)
    if shape.type_name == "structure" and isinstance(value, Mapping):
        for key, item in value.items():
            if key in shape.members:
                yield from _walk(item, shape.members[key], _join(path, key[:1].lower() + key[1:]))
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value, 1):
            yield from _walk(item, shape.member, f"{path}.{index}.member")
    elif shape.type_name == "map" and isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(key, shape.key, f"{path}.key")
            yield from _walk(item, shape.value, f"{path}.{key}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"a {type(value).__name__} of {len(value)}"
    text = str(value)
    return f"'{text[:80]}...'" if len(text) > 80 else f"'{text}'"

"""What the user asked for, before it becomes API requests.

Specs are plain frozen dataclasses built from CLI flags or Python keyword
arguments. Parsing helpers here turn ``KEY=VALUE`` strings into values and
say exactly which flag was wrong when they cannot.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smtrain.core.errors import UsageError

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@dataclass(frozen=True)
class TrainingSpec:
    entry_point: str
    source_dir: Path
    channels: Mapping[str, str]
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    job_name: str = ""
    sharded: tuple[str, ...] = ()  # channels split across instances (S3DataDistributionType ShardedByS3Key)
    metric_definitions: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    image_uri: str = ""
    framework_version: str = ""
    instance_type: str = ""
    instance_count: int | None = None
    spot: bool = False
    max_wait_seconds: int | None = None
    checkpoint_uri: str = ""
    volume_kms_key: str = ""
    output_kms_key: str = ""
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    network_isolation: bool = False
    max_runtime_seconds: int | None = None  # None: the configured default (SMTRAIN_MAX_RUNTIME_SECONDS)
    keep_alive_seconds: int | None = None  # a managed warm pool: ResourceConfig.KeepAlivePeriodInSeconds
    tags: Mapping[str, str] = field(default_factory=dict)  # user tags, plus smtrain's run tags (git, versions)
    # What this submission uploads goes under <job>/source/<id>/ and <job>/input/<id>/, so that a
    # submission never writes over another's files, even when two race for one job name.
    submission_id: str = field(default_factory=lambda: new_submission_id())


def new_submission_id() -> str:
    import uuid

    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class DeploySpec:
    job_name: str
    endpoint_name: str = ""
    entry_point: str = ""
    source_dir: Path | None = None
    instance_type: str = ""
    instance_count: int = 1
    serverless_memory_mb: int = 0
    serverless_max_concurrency: int = 0
    ttl_seconds: int | None = None
    workers: int | None = None


def timestamped_name(base: str, now: float | None = None) -> str:
    """``base-YYYY-MM-DD-HH-MM-SS-mmm`` as the SageMaker SDK names jobs; at most 63 characters."""
    now = time.time() if now is None else now
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    base = re.sub(r"[^a-zA-Z0-9-]+", "-", base).strip("-")[: 63 - len(stamp) - 1] or "smtrain"
    return f"{base}-{stamp}"


def check_name(name: str, what: str) -> str:
    if not NAME_PATTERN.match(name):
        raise UsageError(
            f"invalid {what} {name!r}",
            hint="use 1-63 letters, digits and hyphens, starting with a letter or digit",
        )
    return name


def parse_value(text: str) -> Any:
    """A ``--hp`` value: JSON when it parses as JSON, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_pairs(items: Iterable[str], flag: str, *, json_values: bool = False) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON when asked)."""
    pairs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"malformed {flag} {item!r}", where=flag, hint=f"write {flag} KEY=VALUE")
        if key in pairs:
            raise UsageError(f"{key!r} given twice", where=flag, hint="give each key once")
        pairs[key] = parse_value(value) if json_values else value
    return pairs


def encode_hyperparameters(values: Mapping[str, Any]) -> dict[str, str]:
    """As the SageMaker SDK sends them: ``json.dumps`` of each value (``8`` -> ``"8"``)."""
    return {str(key): json.dumps(value) for key, value in values.items()}


def decode_hyperparameters(encoded: Mapping[str, str]) -> dict[str, Any]:
    """As the training toolkit reads them: ``json.loads`` each, the raw string if that fails."""
    decoded: dict[str, Any] = {}
    for key, text in encoded.items():
        try:
            decoded[key] = json.loads(text)
        except ValueError:
            decoded[key] = text
    return decoded

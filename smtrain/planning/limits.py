"""What a submission is checked against before anything is written: SageMaker's limits.

``fit`` and ``deploy`` call these with the user's values; each failure is a
:class:`UsageError` naming the flag, the value and the fix. Limits come from
the service model (:mod:`smtrain.planning.validation`) where it states them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smtrain.core.errors import UsageError
from smtrain.planning.validation import (
    check_at_least,
    check_name,
    check_regex,
    check_relative_path,
    check_segment,
    shape_rules,
)

RESERVED_PREFIX = "sagemaker_"
SDK_KEYS = 5  # sagemaker_program, _submit_directory, _container_log_level, _job_name, _region (plan.py)


def check_training(entry_point: str, channels: Mapping[str, str], hyperparameters: Mapping[str, Any],
                   job_name: str, options: Mapping[str, Any]) -> None:
    if job_name:
        check_name(job_name, "TrainingJobName", what="job name", where="--job-name")
    check_relative_path(entry_point, what="entry point", where="--entry-point")
    for channel in channels:
        check_segment(channel, what="channel name", where=f"--channel {channel}")
    for channel in options.get("sharded") or ():
        if channel not in channels:
            raise UsageError(f"--sharded {channel}: no channel of that name", where="--sharded",
                             hint=f"name one of the job's channels ({', '.join(channels) or 'none given'})")
    check_hyperparameters(hyperparameters)
    for name, regex in dict(options.get("metric_definitions") or {}).items():
        check_regex(name, regex, where="--metric-definition")
    for key in dict(options.get("environment") or {}):
        check_name(key, "TrainingEnvironmentKey", what="environment variable name", where="--env",
                   hint="use letters, digits and '_', not starting with a digit")
    check_at_least(options.get("instance_count"), 1, what="instance count", where="--instance-count",
                   hint="give 1 or more instances")
    check_at_least(options.get("max_runtime_seconds"), 1, what="max runtime", where="--max-runtime",
                   hint="give the longest run in seconds, 1 or more")
    check_at_least(options.get("max_wait_seconds"), 1, what="spot max wait", where="--max-wait",
                   hint="give the longest wait in seconds, at least as long as the max runtime")
    check_keep_alive(options.get("keep_alive_seconds"), spot=bool(options.get("spot")))


# Managed warm pools (docs: "SageMaker AI Managed Warm Pools", Considerations): at most 3600 s, never with spot.
MAX_KEEP_ALIVE_SECONDS = 3600


def check_keep_alive(seconds: int | None, *, spot: bool) -> None:
    if seconds is None:
        return
    if not 0 <= seconds <= MAX_KEEP_ALIVE_SECONDS:
        raise UsageError(f"keep-alive of {seconds} s is outside SageMaker's limit of 0-{MAX_KEEP_ALIVE_SECONDS} s",
                         where="--keep-alive",
                         hint=f"give at most {MAX_KEEP_ALIVE_SECONDS} seconds (an hour); each matching job that "
                              "reuses the pool sets its own keep-alive, for up to 7 days in all")
    if seconds and spot:
        raise UsageError("warm pools cannot be used with spot instances", where="--keep-alive",
                         hint="drop --spot or --keep-alive")


def check_hyperparameters(hyperparameters: Mapping[str, Any]) -> None:
    """Keys the SDK reserves are refused, and SageMaker's HyperParameters limits apply to what is sent."""
    import json

    reserved = sorted(k for k in hyperparameters if str(k).startswith(RESERVED_PREFIX))
    if reserved:
        raise UsageError(f"hyperparameter {reserved[0]!r} is reserved: smtrain sets the sagemaker_* keys itself",
                         where="--hp", hint="rename it (names starting with 'sagemaker_' are SageMaker's); "
                                            "use --entry-point and --source-dir to choose the script")
    most = int(shape_rules("HyperParameters")["max"]) - SDK_KEYS
    if len(hyperparameters) > most:
        raise UsageError(f"{len(hyperparameters)} hyperparameters given; SageMaker takes at most "
                         f"{most + SDK_KEYS}, {SDK_KEYS} of which smtrain uses", where="--hp",
                         hint=f"pass at most {most}; put bulky settings in a file in --source-dir")
    key_max = int(shape_rules("HyperParameterKey")["max"])
    value_max = int(shape_rules("HyperParameterValue")["max"])
    for key, value in hyperparameters.items():
        if not str(key) or len(str(key)) > key_max:
            raise UsageError(f"hyperparameter name of {len(str(key))} characters: SageMaker allows 1-{key_max}",
                             where=f"--hp {str(key)[:40]}", hint="use a shorter name")
        encoded = json.dumps(value)
        if len(encoded) > value_max:
            raise UsageError(f"hyperparameter {key!r} is {len(encoded)} characters once JSON-encoded; SageMaker "
                             f"allows {value_max}", where=f"--hp {key}",
                             hint="put large values in a file in --source-dir or a channel, and pass its name")


def check_entry_point_inside(source_dir: Path, entry_point: str, *, where: str = "--entry-point") -> None:
    """The entry point, links resolved, is a file inside the source dir (what gets packed)."""
    root = source_dir.resolve()
    target = (source_dir / entry_point).resolve()
    if not target.is_relative_to(root):
        raise UsageError(f"entry point {entry_point!r} resolves to {target}, outside {root}", where=where,
                         hint="put the script itself inside --source-dir; links out of it are not packed")


def check_deploy(endpoint_name: str, entry_point: str, options: Mapping[str, Any]) -> None:
    """Everything a deploy is given, before anything is asked or written ("" skips the endpoint name)."""
    if endpoint_name:
        check_name(endpoint_name, "EndpointName", what="endpoint name", where="--endpoint-name")
    if entry_point:
        check_relative_path(entry_point, what="entry point", where="--entry-point")
    check_at_least(options.get("instance_count"), 1, what="instance count", where="--instance-count",
                   hint="give 1 or more instances")
    check_at_least(options.get("ttl_seconds"), 1, what="TTL", where="--ttl",
                   hint="give the endpoint's lifetime in seconds (1 or more), or leave --ttl out")
    check_at_least(options.get("workers"), 1, what="worker count", where="--workers",
                   hint="give 1 or more model server workers, or leave --workers out (one per CPU)")


# API_CreateTransformJob / API_TransformInput / API_TransformOutput / API_DataProcessing: the allowed values.
TRANSFORM_CHOICES = {
    "split_type": ("--split-type", ("None", "Line", "RecordIO", "TFRecord")),
    "strategy": ("--strategy", ("MultiRecord", "SingleRecord")),
    "assemble_with": ("--assemble-with", ("None", "Line")),
    "join_source": ("--join-source", ("None", "Input")),
    "compression": ("--compression", ("None", "Gzip")),
}
MAX_PAYLOAD_MB = 100  # MaxPayloadInMB: 0-100
MAX_FILTER = 63  # InputFilter and OutputFilter: 0-63 characters


def check_transform(options: Mapping[str, Any]) -> None:
    """Everything a transform is given, before anything is asked or written."""
    for key, (flag, allowed) in TRANSFORM_CHOICES.items():
        value = options.get(key) or ""
        if value and value not in allowed:
            raise UsageError(f"{flag} {value!r} is not one of {', '.join(allowed)}", where=flag,
                             hint=f"give {flag} {' or '.join(allowed)}")
    check_at_least(options.get("instance_count"), 1, what="instance count", where="--instance-count",
                   hint="give 1 or more instances")
    check_at_least(options.get("max_concurrent"), 1, what="concurrent transforms", where="--max-concurrent",
                   hint="give 1 or more requests in flight per instance, or leave --max-concurrent out")
    check_at_least(options.get("max_payload_mb"), 0, what="payload size", where="--max-payload",
                   hint=f"give 0 to {MAX_PAYLOAD_MB} MB, or leave --max-payload out (6 MB)")
    if (options.get("max_payload_mb") or 0) > MAX_PAYLOAD_MB:
        raise UsageError(f"--max-payload {options['max_payload_mb']} is over {MAX_PAYLOAD_MB} MB",
                         where="--max-payload", hint=f"give 0 to {MAX_PAYLOAD_MB} MB")
    for key, flag in (("input_filter", "--input-filter"), ("output_filter", "--output-filter")):
        expression = options.get(key) or ""
        if expression and (not expression.startswith("$") or len(expression) > MAX_FILTER):
            raise UsageError(f"{flag} {expression!r} is not a JSONPath of at most {MAX_FILTER} characters "
                             f"starting with $", where=flag, hint=f"for CSV columns write {flag} '$[1:]'")

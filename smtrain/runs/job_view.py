"""`smtrain show` for a job of a kind with no view of its own (a transform job): its Describe, summarised."""

from __future__ import annotations

from typing import Any

from smtrain.planning.kinds import JobKind


def render_job(kind: JobKind, description: dict[str, Any]) -> str:
    """Name, kind, status and times, the kind's columns, its input and output, and why it failed."""
    lines = [f"{kind.noun} {description[kind.name_key]}: {description[kind.status_key]}"]
    for label, key in (("created", "CreationTime"), ("started", kind.start_time_key), ("ended", kind.end_time_key)):
        if key and description.get(key):
            lines.append(f"  {label}: {description[key]}")
    lines += [f"  {column.header}: {column.value(description)}" for column in kind.columns
              if column.value(description) is not None]
    source = ((description.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource") or {}
    if source.get("S3Uri"):
        lines.append(f"  input: {source['S3Uri']}")
    output = (description.get("TransformOutput") or {}).get("S3OutputPath")
    if output:
        lines.append(f"  output: {output}")
    if description.get("FailureReason"):
        lines.append(f"  failure reason: {description['FailureReason']}")
    return "\n".join(lines)

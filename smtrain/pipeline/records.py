"""Local executions, recorded under the smtrain home so `smtrain pipeline status` can show them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from smtrain.core.errors import NotFoundError, UsageError

from .deployment import summary
from .export import definition_hash
from .spec import check_execution_name, check_pipeline_name


def folder(home: Path, pipeline: str) -> Path:
    """``<home>/pipelines/<name>``: the name is checked against its pattern first, so it stays in the home."""
    return home / "pipelines" / check_pipeline_name(pipeline, where="pipeline name")


def reserve(home: Path, pipeline: str, definition: dict[str, Any], name: str) -> Path:
    """Claim the execution's name before anything runs: a name once used is refused, as Step Functions does.

    Its resources are named after it, so a second execution of that name would meet (and clean up) the first's.
    """
    check_execution_name(name, pipeline)
    directory = folder(home, pipeline)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"ExecutionAlreadyExists: pipeline {pipeline!r} already has an execution named {name!r}",
                         where="--execution-name",
                         hint="choose another name, or leave --execution-name out for a fresh one "
                              "(Step Functions never reuses an execution's name either)") from None
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"name": name, "status": "RUNNING", "plan": definition_hash(definition), "states": {},
                   "error": "", "cause": ""}, handle, indent=2)
    return path


def save(home: Path, pipeline: str, definition: dict[str, Any], execution: Any) -> Path:
    """Write the record atomically, readable by its owner only (it holds the execution's input)."""
    directory = folder(home, pipeline)
    directory.mkdir(parents=True, exist_ok=True)
    record = {"name": execution.name, "status": execution.status, "plan": definition_hash(definition),
              "states": execution.states(), **summary(execution.data if isinstance(execution.data, dict) else {}),
              "error": execution.error, "cause": execution.cause,
              "history": [vars(event) for event in execution.history]}
    path = directory / f"{check_execution_name(execution.name, pipeline)}.json"
    partial = directory / f".{execution.name}.json.partial"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(record, handle, indent=2)
    partial.replace(path)
    return path


def load(home: Path, pipeline: str, execution: str) -> dict[str, Any]:
    """One execution's record; the newest when ``execution`` is empty."""
    if execution:
        check_execution_name(execution, pipeline, where="EXECUTION")
    directory = folder(home, pipeline)
    records = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime) if directory.is_dir() else []
    chosen = [p for p in records if p.stem == execution] if execution else records[-1:]
    if not chosen:
        what = f"execution {execution!r}" if execution else "no local execution"
        raise NotFoundError(f"{what} of pipeline {pipeline!r} not found", where="pipeline status",
                            hint="run one with `smtrain pipeline run --local`")
    return dict(json.loads(chosen[0].read_text()))

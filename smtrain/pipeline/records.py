"""Local executions, recorded under the smtrain home so `smtrain pipeline status` can show them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from smtrain.core.errors import NotFoundError

from .deployment import summary
from .export import definition_hash


def folder(home: Path, pipeline: str) -> Path:
    return home / "pipelines" / pipeline


def save(home: Path, pipeline: str, definition: dict[str, Any], execution: Any) -> Path:
    """Write the record atomically, readable by its owner only (it holds the execution's input)."""
    directory = folder(home, pipeline)
    directory.mkdir(parents=True, exist_ok=True)
    record = {"name": execution.name, "status": execution.status, "plan": definition_hash(definition),
              "states": execution.states(), **summary(execution.data if isinstance(execution.data, dict) else {}),
              "error": execution.error, "cause": execution.cause}
    path = directory / f"{execution.name}.json"
    partial = directory / f".{execution.name}.json.partial"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(record, handle, indent=2)
    partial.replace(path)
    return path


def load(home: Path, pipeline: str, execution: str) -> dict[str, Any]:
    """One execution's record; the newest when ``execution`` is empty."""
    directory = folder(home, pipeline)
    records = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime) if directory.is_dir() else []
    chosen = [p for p in records if p.stem == execution] if execution else records[-1:]
    if not chosen:
        what = f"execution {execution!r}" if execution else "no local execution"
        raise NotFoundError(f"{what} of pipeline {pipeline!r} not found", where="pipeline status",
                            hint="run one with `smtrain pipeline run --local`")
    return dict(json.loads(chosen[0].read_text()))

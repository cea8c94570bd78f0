"""Every resource's record, also saved as a small JSON file, so that the index can be rebuilt.

``state.db`` is the index the commands read; these files are its backup,
written in the same transaction as the row (see ``state.py``):

    jobs/<job>/record.json             a training job, next to the tree it owns
    endpoints/<endpoint>/record.json   an endpoint
    records/<kind>/<name>.json         everything else (models, endpoint configs, registry, runtime)

Each file holds ``{"kind", "name", "body"}``. Files are written atomically
(a temporary file, then a rename), readable by the owner only: records hold
``--env`` values. ``smtrain doctor --rebuild`` reads them back.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from smtrain.core import metric_values

RECORD_FILE = "record.json"
FOLDER_KINDS = {"training-job": "jobs", "endpoint": "endpoints"}
OTHER_RECORDS = "records"


def private_dir(path: Path, root: Path) -> None:
    """Create ``path`` and every missing folder between ``root`` and it, each readable by the owner only."""
    if not root.is_dir():
        root.parent.mkdir(parents=True, exist_ok=True)
        root.mkdir(mode=0o700, exist_ok=True)
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        current.mkdir(mode=0o700, exist_ok=True)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, mode 0600: readers see the old file or the new one, never half."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def dumps(body: Any) -> str:
    """``body`` as strict JSON: a non-finite float (a metric that diverged) becomes null. Python would write
    ``NaN``, which SQLite's JSON functions refuse (see smtrain.core.metric_values)."""
    return metric_values.dumps(body)


@dataclass(frozen=True)
class SavedRecord:
    kind: str
    name: str
    body: dict[str, Any]
    path: Path


@dataclass(frozen=True)
class RecordFiles:
    root: Path

    def path(self, kind: str, name: str) -> Path:
        folder = FOLDER_KINDS.get(kind)
        if folder:
            return self.root / folder / name / RECORD_FILE
        return self.root / OTHER_RECORDS / kind / f"{quote(name, safe='')}.json"

    def save(self, kind: str, name: str, body: dict[str, Any]) -> None:
        path = self.path(kind, name)
        private_dir(path.parent, self.root)
        write_private(path, dumps({"kind": kind, "name": name, "body": body}))

    def remove(self, kind: str, name: str) -> None:
        path = self.path(kind, name)
        path.unlink(missing_ok=True)
        if kind in FOLDER_KINDS:  # a folder the record alone made (a released reservation) goes with it
            with contextlib.suppress(OSError):
                path.parent.rmdir()

    def paths(self) -> Iterator[Path]:
        for folder in FOLDER_KINDS.values():
            yield from sorted((self.root / folder).glob(f"*/{RECORD_FILE}"))
        yield from sorted((self.root / OTHER_RECORDS).glob("*/*.json"))

    def any_saved(self) -> bool:
        """Whether anything was ever recorded here: a saved record, or a job or endpoint folder."""
        folders = [self.root / folder for folder in FOLDER_KINDS.values()] + [self.root / OTHER_RECORDS]
        return any(folder.is_dir() and next(folder.iterdir(), None) is not None for folder in folders)

    def load(self) -> tuple[list[SavedRecord], list[tuple[Path, str]]]:
        """Every saved record, and the files that could not be read (with why)."""
        records: list[SavedRecord] = []
        unreadable: list[tuple[Path, str]] = []
        for path in self.paths():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                records.append(SavedRecord(str(data["kind"]), str(data["name"]), dict(data["body"]), path))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                unreadable.append((path, f"{type(exc).__name__}: {exc}"))
        return records, unreadable

"""``smtrain doctor``: check the local store, and rebuild its index from the saved records.

The check names each problem and what to do. The rebuild never deletes:
the old ``state.db`` (and its WAL files) is moved aside, a new index is
filled with every row still readable from the old one and every saved
record (``records.py``), a saved record winning over a row.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.store.records import FOLDER_KINDS
from smtrain.backends.local.store.state import header_problem
from smtrain.core.errors import StoreError

WAL_SUFFIXES = ("", "-wal", "-shm")


@dataclass(frozen=True)
class Finding:
    problem: bool
    text: str


@dataclass
class RebuildReport:
    moved_aside: list[Path] = field(default_factory=list)
    restored: Counter[str] = field(default_factory=Counter)
    from_old_index: int = 0
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def check(home: LocalHome) -> list[Finding]:
    """What is wrong with the store at ``home``, and what is fine."""
    root = home.root
    if not root.exists():
        return [Finding(False, f"no store at {root} yet (it is created by the first fit, deploy or prepare)")]
    if not root.is_dir():
        return [Finding(True, f"{root} is a file, not a folder: set SMTRAIN_HOME (or --home) to a folder")]
    findings = _permission_findings(home)
    saved, unreadable = home.records.load()
    findings += [Finding(True, f"{path}: unreadable saved record ({why})") for path, why in unreadable]
    try:
        rows = home.state().rows()
    except StoreError as exc:
        return [*findings, Finding(True, f"{exc.where}: {exc.what}")]
    findings.append(_integrity(home.state_path))
    indexed = {(kind, name) for kind, name, _ in rows}
    on_disk = {(record.kind, record.name) for record in saved}
    lost = sorted(on_disk - indexed)
    if lost:
        names = ", ".join(f"{kind} {name}" for kind, name in lost[:10])
        findings.append(Finding(True, f"{len(lost)} saved record(s) missing from the index: {names}"))
    unsaved = sorted(indexed - on_disk)
    if unsaved:
        findings.append(Finding(True, f"{len(unsaved)} record(s) in the index have no saved copy (written by an "
                                      "older smtrain); a rebuild saves them"))
    findings += _folders_without_record(home, on_disk)
    findings.append(Finding(False, f"{home.state_path}: {len(rows)} record(s) indexed, {len(saved)} saved"))
    return findings


def rebuild(home: LocalHome) -> RebuildReport:
    """A fresh index from the old one's readable rows and the saved records; the old files moved aside."""
    report = RebuildReport()
    rows = _salvage(home.state_path)
    report.from_old_index = len(rows)
    saved, report.unreadable = home.records.load()
    merged: dict[tuple[str, str], dict[str, Any]] = {(kind, name): body for kind, name, body in rows}
    merged.update({(record.kind, record.name): record.body for record in saved})
    report.moved_aside = _move_aside(home.state_path)
    db = home.state(check=False)
    for (kind, name), body in merged.items():
        db.put(kind, name, body)
        report.restored[kind] += 1
    return report


def _permission_findings(home: LocalHome) -> list[Finding]:
    findings = []
    paths = [home.root, *(home.state_path.with_name(home.state_path.name + s) for s in WAL_SUFFIXES)]
    paths += [home.root / folder for folder in FOLDER_KINDS.values()]
    for path in paths:
        if path.exists() and path.stat().st_mode & 0o077:
            mode = oct(path.stat().st_mode & 0o777)
            fix = "chmod 700" if path.is_dir() else "chmod 600"
            findings.append(Finding(True, f"{path}: readable by other users (mode {mode}); run `{fix} {path}`"))
    return findings


def _integrity(path: Path) -> Finding:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            result = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return Finding(True, f"{path}: integrity check failed ({exc})")
    if result != ["ok"]:
        return Finding(True, f"{path}: integrity check failed ({'; '.join(result[:3])})")
    return Finding(False, f"{path}: integrity check ok")


def _folders_without_record(home: LocalHome, on_disk: set[tuple[str, str]]) -> list[Finding]:
    findings = []
    for kind, folder in FOLDER_KINDS.items():
        base = home.root / folder
        orphans = sorted(p.name for p in base.iterdir() if p.is_dir() and (kind, p.name) not in on_disk) \
            if base.is_dir() else []
        if orphans:
            findings.append(Finding(True, f"{base}: folder(s) without a saved record, kept as they are and not "
                                          f"indexed: {', '.join(orphans[:10])}"))
    return findings


def _salvage(path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """Every row that can still be read from an old, perhaps damaged, index."""
    import json

    if not path.exists() or path.stat().st_size == 0 or header_problem(path).startswith("the store's index is not"):
        return []
    rows: list[tuple[str, str, dict[str, Any]]] = []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return []
    try:
        for kind, name, body in db.execute("SELECT kind, name, body FROM resources ORDER BY rowid"):
            try:
                rows.append((kind, name, json.loads(body)))
            except ValueError:
                continue
    except sqlite3.Error:
        pass  # keep what was read before the damage
    finally:
        db.close()
    return rows


def _move_aside(path: Path) -> list[Path]:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    moved = []
    for suffix in WAL_SUFFIXES:
        source = path.with_name(path.name + suffix)
        if source.exists():
            target = path.with_name(f"{path.name}.before-rebuild-{stamp}{suffix}")
            source.rename(target)
            moved.append(target)
    return moved

"""``smtrain doctor``: check the local store, and rebuild its index from the saved records.

The check names each problem and what to do. The rebuild never deletes:
a new index is built with every row still readable from the old one and
every saved record (``records.py``), a saved record winning over a row, and
swapped in under the store's lock; the old ``state.db`` and its WAL files
are kept as ``state.db.before-rebuild-<stamp>[-N]{,-wal,-shm}``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.store.lock import store_lock
from smtrain.backends.local.store.records import FOLDER_KINDS, dumps, private_dir
from smtrain.backends.local.store.run_index import ensure_run_index
from smtrain.backends.local.store.state import SCHEMA, has_table, header_problem, restrict_mode
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
    """A fresh index from the old one's readable rows and the saved records, swapped in whole.

    All of it runs under the store's lock held exclusive (store_lock.py): no command reads or writes the
    index meanwhile, so each sees the old index or the new one. The new index is built in a file of its
    own; a healthy old index then takes the new content in one SQLite transaction (the backup API), so
    even a connection kept open across the rebuild (the runtime gateway's) sees old or new, never half. A
    damaged one is renamed aside and the new file renamed in. The old files are kept either way."""
    report = RebuildReport()
    path = home.state_path
    private_dir(path.parent, path.parent)
    with store_lock(path, exclusive=True):
        rows = _salvage(path)
        report.from_old_index = len(rows)
        saved, report.unreadable = home.records.load()
        merged: dict[tuple[str, str], dict[str, Any]] = {(kind, name): body for kind, name, body in rows}
        merged.update({(record.kind, record.name): record.body for record in saved})
        fresh = _build(path, merged)
        try:
            on_disk = {(record.kind, record.name) for record in saved}
            for (kind, name), body in merged.items():
                if (kind, name) not in on_disk:  # a row written by an older smtrain, without a saved copy
                    home.records.save(kind, name, body)
            report.restored.update(kind for kind, _ in merged)
            report.moved_aside = _swap(path, fresh)
        finally:
            _remove_database(fresh)
    restrict_mode(path)
    return report


def _build(path: Path, merged: dict[tuple[str, str], dict[str, Any]]) -> Path:
    """A complete new index in a file beside ``path`` (same page size, WAL mode), closed."""
    fresh = path.with_name(f"{path.name}.rebuild-{os.getpid()}")
    _remove_database(fresh)
    os.close(os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    db = sqlite3.connect(fresh, isolation_level=None)
    try:
        db.execute(f"PRAGMA page_size={_page_size(path)}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(SCHEMA)
        ensure_run_index(db)
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO resources VALUES (?, ?, ?)",
                       ((kind, name, dumps(body)) for (kind, name), body in merged.items()))
        db.execute("COMMIT")
    except BaseException:
        db.close()
        _remove_database(fresh)
        raise
    db.close()
    return fresh


def _swap(path: Path, fresh: Path) -> list[Path]:
    """The new index in place of the old; returns where the old files were kept."""
    healthy = path.exists() and _healthy(path)  # first: closing its check may fold the WAL into the file
    targets = _backup_names(path)
    present = [(path.with_name(path.name + suffix), target)
               for suffix, target in zip(WAL_SUFFIXES, targets, strict=True)
               if path.with_name(path.name + suffix).exists()]
    if healthy:
        for source, target in present:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600))  # owner-only before a byte is copied
            shutil.copyfile(source, target)
        _copy_into(fresh, path)
    else:
        for source, target in present:
            source.rename(target)
        fresh.rename(path)
    kept = [target for _, target in present]
    if not kept:
        targets[0].unlink(missing_ok=True)
    return kept


def _copy_into(fresh: Path, path: Path) -> None:
    source = sqlite3.connect(fresh)
    try:
        target = sqlite3.connect(path, timeout=30)
        try:
            source.backup(target)  # one write transaction on the target: readers see old or new
        finally:
            target.close()
    finally:
        source.close()


def _healthy(path: Path) -> bool:
    """Whether the old index is a whole database SQLite can write to (else it is replaced by rename)."""
    if not path.stat().st_size or header_problem(path):
        return False
    try:
        db = sqlite3.connect(path, timeout=30)
        try:
            return db.execute("PRAGMA quick_check").fetchone()[0] == "ok" and has_table(db)
        finally:
            db.close()
    except sqlite3.Error:
        return False


def _backup_names(path: Path) -> list[Path]:
    """Names for the old index and its WAL files that no earlier rebuild used: two rebuilds within the same
    second keep two backups. The main name is reserved by creating it (O_EXCL)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for number in range(1, 1000):
        base = f"{path.name}.before-rebuild-{stamp}" + (f"-{number}" if number > 1 else "")
        names = [path.with_name(base + suffix) for suffix in WAL_SUFFIXES]
        if any(name.exists() for name in names[1:]):
            continue
        try:
            os.close(os.open(names[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        return names
    raise StoreError("cannot name a backup of the old index: 999 rebuilds this second", where=str(path),
                     hint="remove old state.db.before-rebuild-* files you no longer need")


def _page_size(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError:
        return 4096
    size = int.from_bytes(header[16:18], "big") if len(header) >= 18 else 0
    size = 65536 if size == 1 else size
    return size if size >= 512 and size & (size - 1) == 0 else 4096


def _remove_database(path: Path) -> None:
    for suffix in WAL_SUFFIXES:
        path.with_name(path.name + suffix).unlink(missing_ok=True)


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



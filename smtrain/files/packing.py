"""Choosing what leaves a folder, and writing it atomically.

One walk serves the source dir (``sourcedir.tar.gz``), the training outputs
(``model.tar.gz``, ``output.tar.gz``), data channels synced to S3 or the store
(:func:`scan_data`) and folders copied into a job or endpoint tree
(:func:`copy_folder`); it never follows a link out of its root:

- a link to a regular file inside the root is packed as a regular file with
  the target's content (SageMaker's extraction and ours refuse links);
- any other link (pointing outside the root, to a folder, to a file that is
  itself left out, dangling or looping) is left out with a warning naming it.
  Leaving out, not refusing, because a job that trained for hours must not
  lose its model over a stray link, and source trees often hold links to data
  or environments elsewhere; the warning and ``fit --verbose`` say what happened.

Whatever the route, ``.env`` and ``.env.*`` files (but ``.env.example``) never ship.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass, field
from io import BufferedReader
from pathlib import Path

from smtrain.core.errors import SmtrainError, UsageError
from smtrain.files.ignore import IgnoreRules
from smtrain.files.private import make_private_dirs

TOOL_DIRS = frozenset({".git", "__pycache__", ".smtrain", ".venv"})
SECRET_EXCEPTIONS = frozenset({".env.example"})
SECRET = "secret (.env files never ship)"
TOOL_DIR = "tool folder"
SMTRAIN_HOME = "smtrain home (SMTRAIN_HOME)"
THE_ARCHIVE = "the archive being written"
CHUNK = 1024 * 1024


def is_secret(name: str) -> bool:
    """``.env`` and ``.env.*`` files hold credentials; ``.env.example`` documents them."""
    return (name == ".env" or name.startswith(".env.")) and name not in SECRET_EXCEPTIONS


@dataclass(frozen=True)
class Excluded:
    name: str  # relative POSIX path; folders end with "/"
    reason: str
    warn: bool = False  # worth a warning without --verbose (a link left out)


@dataclass
class PackResult:
    """What an archive holds (``names``, sorted) and what was left out, and why."""

    root: Path
    names: list[str] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict, repr=False)  # name -> the real file to read

    def warnings(self) -> list[str]:
        return [f"warning: left out {self.root / e.name}: {e.reason}" for e in self.excluded if e.warn]

    def report(self) -> list[str]:
        """Every left-out path with its reason, for `fit --verbose` and `plan fit`."""
        lines = [f"{len(self.names)} file(s) packed from {self.root}, {len(self.excluded)} path(s) left out"]
        return lines + [f"  left out {e.name}: {e.reason}" for e in self.excluded]


@dataclass
class Walker:
    root: Path
    rules: IgnoreRules | None = None
    skip_tool_dirs: bool = False
    avoid: frozenset[Path] = frozenset()  # real paths never packed: the home, the archive itself
    warn_all: bool = False  # warn for every path left out, not just for links
    result: PackResult = field(init=False)

    def walk(self) -> PackResult:
        """Breadth first, so the ignore rules are asked once per level, not once per folder."""
        self.result = PackResult(self.root)
        level = [""]
        while level:
            level = self._level(level)
        self.result.names.sort()
        self.result.excluded.sort(key=lambda e: e.name)
        return self.result

    def _level(self, folders: list[str]) -> list[str]:
        """Sort the entries of ``folders`` (one depth); return the subfolders to walk next."""
        entries: list[tuple[str, os.DirEntry[str]]] = []
        for folder in folders:
            if self.rules is not None:
                self.rules.enter(folder)
            entries += [(folder + e.name + ("/" if e.is_dir(follow_symlinks=False) else ""), e)
                        for e in self._entries(folder)]
        ignored = self.rules.ignored(name for name, _ in entries) if self.rules is not None else {}
        subfolders = []
        for name, entry in entries:
            reason = self._reason(entry) or ignored.get(name, "")
            if reason:
                self._leave_out(name, reason)
            elif entry.is_symlink():
                self._link(Path(entry.path), name)
            elif entry.is_dir(follow_symlinks=False):
                subfolders.append(name)
            elif entry.is_file(follow_symlinks=False):
                self._add(name, Path(entry.path))
            else:
                self._leave_out(name, "not a regular file")
        return subfolders

    def _entries(self, folder: str) -> list[os.DirEntry[str]]:
        try:
            return sorted(os.scandir(self.root / folder), key=lambda e: e.name)
        except OSError as exc:
            self._leave_out(folder, f"cannot read the folder: {exc.strerror}", warn=True)
            return []

    def _reason(self, entry: os.DirEntry[str]) -> str:
        if entry.is_symlink():
            return SECRET if is_secret(entry.name) else ""
        real = Path(entry.path)  # already canonical: the root is resolved and links are never descended
        if entry.is_dir(follow_symlinks=False):
            return self._folder_reason(entry.name, real)
        return self._file_reason(entry.name, real)

    def _folder_reason(self, base: str, real: Path) -> str:
        if self.skip_tool_dirs and base in TOOL_DIRS:
            return TOOL_DIR
        return SMTRAIN_HOME if real in self.avoid or looks_like_smtrain_home(real) else ""

    def _file_reason(self, base: str, real: Path) -> str:
        if is_secret(base):
            return SECRET
        return THE_ARCHIVE if real in self.avoid else ""

    def _link(self, path: Path, name: str) -> None:
        target = os.readlink(path)
        real = Path(os.path.realpath(path))
        if not real.is_relative_to(self.root):
            self._leave_out(name, f"link to {target}, outside {self.root}", warn=True)
        elif not real.exists():
            self._leave_out(name, f"dangling or looping link (-> {target})", warn=True)
        elif real.is_dir():
            self._leave_out(name, f"link to a folder (-> {target}); links to folders are not followed", warn=True)
        elif not real.is_file():
            self._leave_out(name, f"link to something that is not a regular file (-> {target})", warn=True)
        else:
            why = self._target_reason(real.relative_to(self.root).as_posix())
            if why:
                self._leave_out(name, f"link to {target}, which is left out: {why}", warn=True)
            else:
                self._add(name, real)

    def _target_reason(self, relative: str) -> str:
        """Why the in-root file ``relative`` (and so a link to it) stays out; '' if it ships."""
        parts = relative.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth]) + "/"
            why = self._folder_reason(parts[depth - 1], self.root / folder) or self._rule(folder)
            if why:
                return f"{folder}: {why}"
        return self._file_reason(parts[-1], self.root / relative) or self._rule(relative)

    def _rule(self, name: str) -> str:
        if self.rules is None:
            return ""
        parent = name.rstrip("/").rpartition("/")[0]
        self.rules.enter(parent + "/" if parent else "")
        return self.rules.ignored([name]).get(name, "")

    def _add(self, name: str, real: Path) -> None:
        self.result.names.append(name)
        self.result.files[name] = real

    def _leave_out(self, name: str, reason: str, *, warn: bool = False) -> None:
        self.result.excluded.append(Excluded(name, reason, warn or self.warn_all))


def looks_like_smtrain_home(folder: Path) -> bool:
    """A folder laid out as an smtrain home (``state.db`` beside ``jobs/``), whatever its name."""
    return (folder / "state.db").is_file() and (folder / "jobs").is_dir()


def scan_source(source_dir: Path, *, home: Path | None = None, dest: Path | None = None) -> PackResult:
    """What :func:`pack_source` would pack from ``source_dir`` and what it would leave out (writes nothing)."""
    root = Path(os.path.realpath(source_dir))
    if not root.is_dir():
        raise UsageError("source directory not found", where=str(source_dir),
                         hint="pass the directory that holds your entry point")
    avoid = frozenset(Path(os.path.realpath(p)) for p in (home, dest) if p is not None)
    return Walker(root, IgnoreRules.for_source(root), skip_tool_dirs=True, avoid=avoid).walk()


def scan_output(folder: Path) -> PackResult:
    """What ``model/`` or ``output/data/`` packs: everything but secrets and links out of the folder."""
    root = Path(os.path.realpath(folder))
    return Walker(root).walk() if root.is_dir() else PackResult(root)


def scan_data(folder: Path, *, home: Path | None = None) -> PackResult:
    """What a data channel sends: no ignore rules (data is often git-ignored), but no secrets,
    no links out of ``folder`` and not the smtrain ``home``; every path left out is a warning,
    as nothing else lists them."""
    root = Path(os.path.realpath(folder))
    avoid = frozenset({Path(os.path.realpath(home))}) if home is not None else frozenset()
    return Walker(root, avoid=avoid, warn_all=True).walk() if root.is_dir() else PackResult(root)


def copy_folder(source: Path, dest: Path, *, home: Path | None = None) -> PackResult:
    """Copy ``source`` into ``dest`` under the data policy (links to in-root files become regular files;
    the rest is left out and listed in :meth:`PackResult.warnings`). ``source`` is only read."""
    result = scan_data(source, home=home)
    for name in result.names:
        target = Path(dest) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_regular(name, result.files[name]) as reader, open(target, "wb") as writer:
            shutil.copyfileobj(reader, writer, CHUNK)
            os.chmod(target, stat.S_IMODE(os.fstat(reader.fileno()).st_mode))
    return result


def check_entry_point(result: PackResult, entry_point: str) -> None:
    """The entry point must exist and be packed."""
    relative = Path(entry_point).as_posix()
    path = result.root / entry_point
    if relative in result.names:
        return
    if not path.is_file():
        raise UsageError(f"entry point {entry_point!r} not found", where=str(path),
                         hint=f"give the script's path relative to the source directory {result.root}")
    reason = next((e.reason for e in result.excluded
                   if relative == e.name or (e.name.endswith("/") and relative.startswith(e.name))),
                  "outside the source directory")
    raise UsageError(f"entry point {entry_point!r} is excluded: {reason}", where=str(path),
                     hint=f"add '!{relative}' to .smtrainignore, or move the script")


def write_archive(result: PackResult, dest: Path, *, compresslevel: int = 6) -> None:
    """Write ``result``'s files to ``dest`` (tar.gz) through a temp file, so ``dest`` is whole or absent.
    ``compresslevel`` 1 trades a slightly larger archive for speed (an archive that never leaves the machine)."""
    make_private_dirs(dest.parent)  # the store's source folders: owner-only, as the store
    fd, temp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=compresslevel) as tar:
            for name in result.names:
                _add_file(tar, name, result.files[name])
        os.replace(temp_name, dest)
    except OSError as exc:
        Path(temp_name).unlink(missing_ok=True)
        raise SmtrainError(f"cannot write the archive: {exc.strerror or exc}", where=str(dest),
                           hint="check the free space and permissions there") from exc
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _add_file(tar: tarfile.TarFile, name: str, real: Path) -> None:
    # A member of its own making: whole-second mtime (a float one costs each member an extra pax header,
    # doubling the headers to write and to read back) and no owner names (gettarinfo looks them up per file).
    with open_regular(name, real) as handle:
        status = os.fstat(handle.fileno())
        member = tarfile.TarInfo(name)
        member.size, member.mtime, member.mode = status.st_size, int(status.st_mtime), stat.S_IMODE(status.st_mode)
        tar.addfile(member, handle)


def open_regular(name: str, real: Path) -> BufferedReader:
    """Open a walked file for reading; O_NOFOLLOW: a file swapped for a link after the walk is refused."""
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}", where=str(real),
                         hint="make it readable, or move it out of the folder; if it changed, try again") from exc
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise UsageError(f"{name} changed while packing", where=str(real), hint="try again")
    return handle

"""Unpacking archives safely: :func:`safe_extract` is the only way smtrain unpacks one.

Refused: links (symbolic or hard), absolute names, ``..``, devices and fifos
(the rules of tarfile's ``data`` filter, checked lexically, plus stricter ones), and archives beyond the limits:

- total bytes written: 10 GiB by default (``SMTRAIN_MAX_EXTRACT_BYTES``);
- expansion: beyond 256 MiB, at most 100 times the archive's own size by
  default (``SMTRAIN_MAX_EXTRACT_RATIO``), so a 1 MB archive cannot become
  1 GiB; models and data compress far less (Apache POI's zip-bomb guard uses
  the same 1:100);
- members: 100,000 by default (``SMTRAIN_MAX_EXTRACT_MEMBERS``).

The settings are read from the environment, ``.env`` or ``smtrain.toml`` like
every other. Sizes are checked against each header and again against the
bytes actually written while streaming, so a gzip bomb stops at the limit.
Extraction goes to a temp folder beside ``dest`` and is moved into place only
when complete: a refused or broken archive leaves nothing behind.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from smtrain.core.errors import UsageError
from smtrain.files.private import process_umask

DEFAULT_MAX_BYTES = 10 * 1024**3
DEFAULT_MAX_MEMBERS = 100_000
DEFAULT_MAX_RATIO = 100
RATIO_FREE_BYTES = 256 * 1024**2  # below this, any expansion is harmless
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ExtractLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS
    max_ratio: int = DEFAULT_MAX_RATIO

    def byte_limit(self, archive_size: int) -> tuple[int, str]:
        """The bytes an archive of ``archive_size`` may expand to, and the setting that sets it."""
        by_ratio = max(RATIO_FREE_BYTES, self.max_ratio * archive_size)
        if by_ratio < self.max_bytes:
            return by_ratio, "SMTRAIN_MAX_EXTRACT_RATIO"
        return self.max_bytes, "SMTRAIN_MAX_EXTRACT_BYTES"

    @classmethod
    def from_settings(cls) -> ExtractLimits:
        """The limits from the environment, ``.env`` and ``smtrain.toml`` (see :mod:`smtrain.core.config`)."""
        from smtrain.core.config import load_config

        config = load_config()
        for name in ("max_extract_bytes", "max_extract_members", "max_extract_ratio"):
            if getattr(config, name) < 1:
                raise UsageError(f"{name} must be 1 or more, got {getattr(config, name)}",
                                 where=config.sources.get(name, "config"),
                                 hint=f"set SMTRAIN_{name.upper()} to a positive number, or unset it")
        return cls(config.max_extract_bytes, config.max_extract_members, config.max_extract_ratio)


class ArchiveTooLargeError(UsageError):
    """The archive expands beyond a limit; raising the setting lets a trusted one through."""


class LinkRefusedError(tarfile.FilterError):
    def __init__(self, tarinfo: tarfile.TarInfo) -> None:
        self.tarinfo = tarinfo
        super().__init__(f"{tarinfo.name!r} is a link")


def _strict_filter(member: tarfile.TarInfo, real_dest: str) -> tuple[str, int | None]:
    """tarfile's "data" filter, plus: no links at all, and absolute names refused rather than made relative.

    The member's target path and mode. ``real_dest`` is a fresh folder (already resolved) that only this
    extraction writes to, and never a link into it, so the "stays inside" check is lexical: the same
    verdict as the data filter's ``realpath`` of every member (which cost most of the extraction time)."""
    if member.issym() or member.islnk():
        raise LinkRefusedError(member)
    if member.name.startswith(("/", os.sep)) or os.path.isabs(member.name):
        raise tarfile.AbsolutePathError(member)
    target = os.path.normpath(os.path.join(real_dest, member.name))
    if os.path.commonpath([target, real_dest]) != real_dest:
        raise tarfile.OutsideDestinationError(member, target)
    if member.isdir():
        return target, None
    if not member.isreg():
        raise tarfile.SpecialFileError(member)
    mode = member.mode & 0o755  # the data filter's: no high bits, no group/other write,
    if not mode & 0o100:  # executable only if the owner may execute it, always owner read/write
        mode &= ~0o111
    return target, (mode | 0o600) & ~process_umask()  # in the local store's processes (umask 077): 0600


def safe_extract(tar_path: Path, dest: Path, *, limits: ExtractLimits | None = None) -> None:
    """Extract a (gzipped) tar into ``dest``, all or nothing, within ``limits`` (default: the settings)."""
    limits = limits or ExtractLimits.from_settings()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            real_scratch = Path(os.path.realpath(scratch))
            _Extraction(tar, real_scratch, Path(tar_path), limits, *limits.byte_limit(os.path.getsize(tar_path))).run()
        _move_into(scratch, dest)
    except tarfile.FilterError as exc:
        raise UsageError(f"refused to extract an unsafe archive member: {exc}", where=str(tar_path),
                         hint="rebuild the archive with regular files and relative paths only") from exc
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, FileNotFoundError) as exc:
        raise UsageError(f"cannot read the archive: {exc}", where=str(tar_path),
                         hint="check that it is a tar or tar.gz file") from exc
    except OSError as exc:
        raise UsageError(f"cannot extract {tar_path}: {exc.strerror or exc}", where=str(exc.filename or dest),
                         hint="check the free space and permissions there, and the archive") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class _Extraction:
    tar: tarfile.TarFile
    dest: Path
    source: Path
    limits: ExtractLimits
    max_bytes: int
    bytes_setting: str  # the setting that raises max_bytes
    members: int = 0
    declared: int = 0
    written: int = 0
    folders: set[str] = field(default_factory=set)  # made already

    def run(self) -> None:
        for member in self.tar:  # checked before tarfile reads (and inflates) past the member's data
            self.members += 1
            self.declared += member.size
            if self.members > self.limits.max_members:
                self._too_large(f"more than {self.limits.max_members:,} members", "SMTRAIN_MAX_EXTRACT_MEMBERS")
            if self.declared > self.max_bytes:
                self._too_many_bytes()
            target, mode = _strict_filter(member, str(self.dest))
            self._write(member, target, mode)

    def _write(self, member: tarfile.TarInfo, target: str, mode: int | None) -> None:
        if member.isdir():
            os.makedirs(target, exist_ok=True)
            return
        folder = os.path.dirname(target)
        if folder not in self.folders:
            os.makedirs(folder, exist_ok=True)
            self.folders.add(folder)
        source = self.tar.extractfile(member)
        assert source is not None  # a regular file always has data
        with source, open(target, "wb") as out:
            while chunk := source.read(CHUNK):
                self.written += len(chunk)
                if self.written > self.max_bytes:
                    self._too_many_bytes()
                out.write(chunk)
            if mode is not None:
                os.fchmod(out.fileno(), mode)
        os.utime(target, (member.mtime, member.mtime))

    def _too_many_bytes(self) -> None:
        ratio = f", {self.limits.max_ratio} times its own size" if self.bytes_setting.endswith("RATIO") else ""
        self._too_large(f"more than {self.max_bytes:,} bytes{ratio}", self.bytes_setting)

    def _too_large(self, what: str, setting: str) -> None:
        raise ArchiveTooLargeError(
            f"refused to extract: the archive expands to {what} (a limit against archive bombs); nothing was "
            "extracted", where=str(self.source),
            hint=f"if you trust this archive, raise the limit: set {setting}=<number> in the environment, "
            ".env or smtrain.toml",
        )


def _move_into(scratch: Path, dest: Path) -> None:
    """Move the finished extraction into ``dest``, merging with what is already there."""
    if not dest.exists() or (dest.is_dir() and not any(dest.iterdir())):
        os.replace(scratch, dest)
        return
    for entry in scratch.iterdir():
        target = dest / entry.name
        if entry.is_dir() and target.is_dir() and not target.is_symlink():
            _move_into(entry, target)
        else:
            os.replace(entry, target)

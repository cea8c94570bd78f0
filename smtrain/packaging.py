"""Source archives in, artifacts out: ``sourcedir.tar.gz`` and safe extraction.

The SageMaker SDK tars the whole source directory, secrets included. smtrain
honours ``.gitignore`` and ``.smtrainignore`` (gitignore syntax, read from the
root of the source directory; ``.smtrainignore`` comes last, so ``!pattern``
there re-includes what ``.gitignore`` excludes) and never ships ``.env`` files,
version-control or tool directories, whatever the ignore files say.

:func:`safe_extract` is the only way smtrain unpacks an archive (source
archives and ``model.tar.gz`` alike): no links, no absolute paths, no ``..``.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from smtrain.errors import UsageError

if TYPE_CHECKING:
    import pathspec

IGNORE_FILES = (".gitignore", ".smtrainignore")
ALWAYS_EXCLUDED_DIRS = frozenset({".git", "__pycache__", ".smtrain", ".venv"})
SECRET_EXCEPTIONS = frozenset({".env.example"})


def is_secret(name: str) -> bool:
    """``.env`` and ``.env.*`` files hold credentials; ``.env.example`` documents them."""
    return (name == ".env" or name.startswith(".env.")) and name not in SECRET_EXCEPTIONS


def pack_source(source_dir: Path, entry_point: str, dest: Path) -> list[str]:
    """Write ``dest`` (a gzipped tar of ``source_dir``) atomically; return the archived names."""
    source_dir = Path(source_dir).resolve()
    if not source_dir.is_dir():
        raise UsageError(
            "source directory not found", where=str(source_dir), hint="pass the directory that holds your entry point"
        )
    spec = _ignore_spec(source_dir)
    _check_entry_point(source_dir, entry_point, spec)
    dest = Path(dest).resolve()
    names = sorted(name for name in _walk(source_dir, spec) if (source_dir / name).resolve() != dest)
    _write_archive(source_dir, names, dest)
    return names


def _ignore_spec(source_dir: Path) -> pathspec.GitIgnoreSpec:
    import pathspec

    lines: list[str] = []
    for name in IGNORE_FILES:
        path = source_dir / name
        if path.is_file():
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _check_entry_point(source_dir: Path, entry_point: str, spec: pathspec.GitIgnoreSpec) -> None:
    path = source_dir / entry_point
    if not path.is_file():
        raise UsageError(
            f"entry point {entry_point!r} not found",
            where=str(path),
            hint=f"give the script's path relative to the source directory {source_dir}",
        )
    relative = Path(entry_point).as_posix()
    parts = relative.split("/")
    excluded_by = ""
    if is_secret(parts[-1]) or ALWAYS_EXCLUDED_DIRS.intersection(parts[:-1]):
        excluded_by = "smtrain's built-in exclusions (.env files, .git, __pycache__, .smtrain, .venv)"
    elif _is_ignored(relative, spec):
        excluded_by = " or ".join(n for n in IGNORE_FILES if (source_dir / n).is_file())
    if excluded_by:
        raise UsageError(
            f"entry point {entry_point!r} is excluded by {excluded_by}",
            where=str(path),
            hint=f"add '!{relative}' to .smtrainignore, or move the script",
        )


def _is_ignored(relative: str, spec: pathspec.GitIgnoreSpec) -> bool:
    """Ignored itself, or inside an ignored directory (git cannot re-include below one)."""
    parts = relative.split("/")
    parents = ["/".join(parts[:i]) + "/" for i in range(1, len(parts))]
    return any(spec.match_file(p) for p in parents) or spec.match_file(relative)


def _walk(root: Path, spec: pathspec.GitIgnoreSpec) -> Iterator[str]:
    """Relative POSIX names of the files to ship, pruning excluded directories."""
    for current, dirs, files in os.walk(root):
        prefix = Path(current).relative_to(root).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        dirs[:] = sorted(
            d for d in dirs
            if d not in ALWAYS_EXCLUDED_DIRS
            and not (Path(current) / d).is_symlink()
            and not spec.match_file(prefix + d + "/")
        )
        for name in sorted(files):
            relative = prefix + name
            if not is_secret(name) and not spec.match_file(relative) and (Path(current) / name).is_file():
                yield relative


def _write_archive(root: Path, names: list[str], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
            tar.dereference = True
            for name in names:
                tar.add(root / name, arcname=name, recursive=False)
        os.replace(temp_name, dest)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_tar_gz(source_dir: Path, dest: Path) -> list[str]:
    """Tar every file under ``source_dir`` (no ignore rules) to ``dest``, atomically.

    Used for training outputs (``model/`` -> ``model.tar.gz``), where nothing is filtered.
    """
    source_dir = Path(source_dir)
    names = sorted(
        (Path(current) / name).relative_to(source_dir).as_posix()
        for current, _, files in os.walk(source_dir)
        for name in files
        if (Path(current) / name).is_file()
    )
    _write_archive(source_dir, names, Path(dest))
    return names


class LinkRefusedError(tarfile.FilterError):
    def __init__(self, tarinfo: tarfile.TarInfo) -> None:
        self.tarinfo = tarinfo
        super().__init__(f"{tarinfo.name!r} is a link")


def _strict_filter(member: tarfile.TarInfo, dest_path: str) -> tarfile.TarInfo | None:
    """tarfile's "data" filter, plus: no links at all, and absolute names refused rather than made relative."""
    if member.issym() or member.islnk():
        raise LinkRefusedError(member)
    if member.name.startswith(("/", os.sep)):
        raise tarfile.AbsolutePathError(member)
    return tarfile.data_filter(member, dest_path)


def safe_extract(tar_path: Path, dest: Path) -> None:
    """Extract a (gzipped) tar into ``dest``, refusing links, absolute paths and ``..``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            tar.extractall(dest, filter=_strict_filter)
    except tarfile.FilterError as exc:
        raise UsageError(
            f"refused to extract an unsafe archive member: {exc}",
            where=str(tar_path),
            hint="rebuild the archive with regular files and relative paths only",
        ) from exc
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, FileNotFoundError) as exc:
        raise UsageError(
            f"cannot read the archive: {exc}", where=str(tar_path), hint="check that it is a tar or tar.gz file"
        ) from exc

"""Source archives in, artifacts out: ``sourcedir.tar.gz``, ``model.tar.gz``, and safe extraction.

The SageMaker SDK tars the whole source directory, secrets included. smtrain:

- honours git's own ignore rules (nested ``.gitignore`` files, the repository's
  ``.gitignore`` above the source dir, ``.git/info/exclude``) and then
  ``.smtrainignore`` at the source root, whose ``!pattern`` re-includes
  (see :mod:`smtrain.files.ignore`);
- never ships ``.env`` / ``.env.*`` files (but ``.env.example``), by any
  route: in subfolders, through a link, in the model dir;
- never ships tool folders (``.git``, ``__pycache__``, ``.smtrain``, ``.venv``),
  the smtrain home (``SMTRAIN_HOME``, whatever its name or place, and any folder
  laid out as one: ``state.db`` beside ``jobs/``), or the archive being written;
- never follows a link out of the folder being packed. A link to a regular
  file inside it ships as a regular file with the target's content; every
  other link (outside, to a folder, to a left-out file, dangling) is left out
  with a warning naming it. The same policy holds for ``model/`` and
  ``output/data/`` (see :mod:`smtrain.files.packing`).

:func:`pack_source` returns a :class:`PackResult`: the packed names and the
left-out paths, each with its reason. :func:`safe_extract` (see
:mod:`smtrain.files.archives`) is the only way smtrain unpacks an archive: no links,
no absolute paths, no ``..``, limits on size and member count, all or nothing.
"""

from __future__ import annotations

from pathlib import Path

from smtrain.files.archives import ArchiveTooLargeError, ExtractLimits, LinkRefusedError, safe_extract
from smtrain.files.packing import (
    TOOL_DIRS,
    Excluded,
    PackResult,
    check_entry_point,
    is_secret,
    scan_output,
    scan_source,
    write_archive,
)

ALWAYS_EXCLUDED_DIRS = TOOL_DIRS

__all__ = [
    "ALWAYS_EXCLUDED_DIRS",
    "ArchiveTooLargeError",
    "Excluded",
    "ExtractLimits",
    "LinkRefusedError",
    "PackResult",
    "is_secret",
    "pack_source",
    "safe_extract",
    "scan_source",
    "write_tar_gz",
]


def pack_source(source_dir: Path, entry_point: str, dest: Path, *, home: Path | None = None,
                compresslevel: int = 6) -> PackResult:
    """Write ``dest`` (a gzipped tar of ``source_dir``) atomically; ``home`` is the smtrain home to keep out."""
    dest = Path(dest)
    result = scan_source(Path(source_dir), home=home, dest=dest)
    check_entry_point(result, entry_point)
    write_archive(result, dest, compresslevel=compresslevel)
    return result


def write_tar_gz(folder: Path, dest: Path, *, compresslevel: int = 6) -> PackResult:
    """Tar ``folder`` (``model/`` -> ``model.tar.gz``) to ``dest`` atomically; no ignore rules, but no
    secrets and no links out of the folder (left out, listed in :meth:`PackResult.warnings`)."""
    result = scan_output(Path(folder))
    write_archive(result, Path(dest), compresslevel=compresslevel)
    return result

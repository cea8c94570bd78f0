"""A run's files: its source archive and model, read from the local store or S3; ``checkout``."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from smtrain.core.config import Config
from smtrain.core.errors import NotFoundError, UsageError
from smtrain.core.uris import split_s3, to_path
from smtrain.runs.compare import MAX_ARCHIVE_BYTES, read_archive
from smtrain.runs.record import Run


def fetch(config: Config, uri: str, target: Path, *, s3: Any = None) -> None:
    """Copy the object at ``uri`` (file:// or s3://) to ``target``."""
    where = uri
    if uri.startswith("file://"):
        source = to_path(uri)
        if not source.is_file():
            raise NotFoundError(f"{source} is gone", where=where, hint="the local store no longer holds it")
        shutil.copyfile(source, target)
        return
    from smtrain.runs.store import sagemaker_client, translating

    bucket, key = split_s3(uri)
    with translating(where):
        (s3 or sagemaker_client(config, "s3")).download_file(bucket, key, str(target))


def source_files(config: Config, run: Run, *, s3: Any = None) -> dict[str, bytes]:
    """The files of the run's source archive, in memory."""
    uri = run.source_uri
    if not uri:
        raise NotFoundError(f"run {run.name} records no source archive", where=f"run {run.name}",
                            hint="it was not started by smtrain or a SageMaker framework estimator")
    with tempfile.TemporaryDirectory(prefix="smtrain-source-") as scratch:
        archive = Path(scratch) / "sourcedir.tar.gz"
        fetch(config, uri, archive, s3=s3)
        if archive.stat().st_size > MAX_ARCHIVE_BYTES:
            raise UsageError(f"source archive of {run.name} is over {MAX_ARCHIVE_BYTES} bytes", where=uri,
                             hint=f"use `smtrain checkout {run.name}` and compare the folders")
        return read_archive(archive.read_bytes(), uri)


def _clear_model_dir(folder: Path, run: Run, force: bool) -> None:
    """The source's own ``model/`` would be merged with the model, its files silently replaced: refuse, or with
    ``force`` drop it from the checkout (only from the scratch copy: nothing of the user's is touched)."""
    if not folder.exists() and not folder.is_symlink():
        return
    if not force:
        own = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        if folder.is_dir() and not own:
            return
        shown = ", ".join(own[:5]) + (f" and {len(own) - 5} more" if len(own) > 5 else "")
        raise UsageError(f"the source of {run.name} has its own model/ ({shown or 'a file named model'}), "
                         "which --model would write over", where="checkout --model",
                         hint="check out without --model to keep the source's model/, or add --force to put "
                              "the run's model there instead (the source's model/ is then left out); "
                              "nothing was written")
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)
    else:
        folder.unlink()


def checkout(config: Config, run: Run, dest: Path, *, model: bool = False, force: bool = False,
             s3: Any = None) -> Path:
    """Write the run's source (and with ``model``, its model under ``model/``) into ``dest``.

    ``dest`` must not exist or be empty. Everything is extracted into a
    scratch folder beside it first and moved in place at the end, so a failure
    leaves nothing half-written. A source that has a ``model/`` of its own is
    refused with ``model``, unless ``force``: then the checkout's ``model/`` holds
    the run's model alone, and the source's own ``model/`` is left out.
    """
    from smtrain.files.tarballs import safe_extract

    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest} exists and is not empty", where="checkout",
                         hint="give a new or empty folder; nothing was written")
    if not run.source_uri:
        raise NotFoundError(f"run {run.name} records no source archive", where=f"run {run.name}")
    if model and not (run.model_data and run.status == "Completed"):
        raise UsageError(f"run {run.name} has no model ({run.status})", where="--model",
                         hint="check out a Completed run, or leave out --model")
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        tree = scratch / "tree"
        archive = scratch / "sourcedir.tar.gz"
        fetch(config, run.source_uri, archive, s3=s3)
        safe_extract(archive, tree)
        if model:
            _clear_model_dir(tree / "model", run, force)
            fetch(config, run.model_data, scratch / "model.tar.gz", s3=s3)
            safe_extract(scratch / "model.tar.gz", tree / "model")
        if dest.exists():
            dest.rmdir()  # empty, checked above
        os.replace(tree, dest)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(scratch)
    return dest

"""The local backend: SageMaker's API served from ``$SMTRAIN_HOME``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smtrain.backends.base import SyncReport
from smtrain.backends.local.store.home import LocalHome
from smtrain.core.config import Config
from smtrain.core.errors import UsageError
from smtrain.core.uris import to_path
from smtrain.planning.kinds import JobKind
from smtrain.planning.plan import LOCAL_IMAGE, LOCAL_ROLE

LOG_POLL_SECONDS = 0.05
SOURCE_COMPRESSLEVEL = 1  # the archive stays on this machine: speed over size


# What a local endpoint really does while SageMaker would be starting an instance.
STATUS_DETAILS = {
    ("Endpoint", "Creating"): "starting the model server process, loading model",
    ("Endpoint", "Updating"): "starting a new model server process, loading model",
}


class LocalBackend:
    name = "local"
    poll_seconds = 0.1
    runs_here = True

    def __init__(self, config: Config) -> None:
        self.config = config
        self.home = LocalHome(config.home)
        self._service: Any = None
        self._uploads: list[Path] | None = None  # what a reserved submission has written so far

    def sagemaker(self) -> Any:
        if self._service is None:
            from smtrain.backends.local.service import LocalSageMaker

            self._service = LocalSageMaker(
                self.home, region=self.config.resolved_region(), runtime_port=self.config.runtime_port
            )
        return self._service

    def runtime(self) -> Any:
        from smtrain.backends.local.serving.runtime_client import LocalRuntime

        return LocalRuntime(self.runtime_url())

    def artifact_root(self) -> str:
        return (self.home.store / self.config.prefix).resolve().as_uri()

    def role(self) -> str:
        return LOCAL_ROLE

    def image_uri(self, framework_version: str) -> str:
        """The local image of ``framework_version``; a usage error, before anything starts, when this
        Python cannot run that version."""
        if not framework_version:
            return LOCAL_IMAGE
        from smtrain.backends.local.environments import frameworks
        from smtrain.core.errors import UsageError

        if framework_version != frameworks.CURRENT:
            try:
                frameworks.framework(framework_version)
            except frameworks.FrameworkError as exc:
                raise UsageError(str(exc), where="--framework-version",
                                 hint="pick one of the versions named, or run on a Python that has wheels for it"
                                 ) from None
        return f"{LOCAL_IMAGE}:{framework_version}"

    def resolved_config(self) -> Config:
        return self.config

    @contextmanager
    def reserve(self, kind: JobKind, name: str) -> Iterator[None]:
        """Reserve a job's name in the state DB; given back unless the job was created."""
        service = self.sagemaker()
        service.reserve_job(kind, name)
        self._uploads = []
        try:
            yield
        finally:
            uploads, self._uploads = self._uploads, None
            if service.release_job(kind, name):  # the job was never created: remove what it uploaded
                for path in uploads:
                    self._remove_upload(path)

    def upload_source(self, source_dir: Path, entry_point: str, uri: str) -> None:
        from smtrain.files.tarballs import pack_source

        target = to_path(uri)
        if self._uploads is not None:
            self._uploads.append(target)
        for warning in pack_source(source_dir, entry_point, target, home=self.config.home,
                                   compresslevel=SOURCE_COMPRESSLEVEL).warnings():
            print(warning, file=sys.stderr, flush=True)

    def _remove_upload(self, path: Path) -> None:
        """Delete an archive and the folders left empty by it, up to the artifact root."""
        path.unlink(missing_ok=True)
        root = to_path(self.artifact_root())
        folder = path.parent.resolve()
        while folder != root and folder.is_relative_to(root) and folder.is_dir() and not any(folder.iterdir()):
            try:
                folder.rmdir()
            except OSError:  # something arrived meanwhile: it stays
                return
            folder = folder.parent

    def sync(self, local_dir: Path, uri: str, *, progress: bool = True) -> SyncReport:
        from smtrain.files.sync import sync_directory

        report = sync_directory(local_dir, uri, progress=progress, home=self.config.home)
        if self._uploads is not None:  # sent for a reserved submission: removed with it if it is never created
            target = to_path(uri)
            self._uploads.extend(target / path.relative_to(local_dir) for path in local_dir.rglob("*")
                                 if path.is_file())
        for warning in report.warnings:
            print(warning, file=sys.stderr, flush=True)
        return report

    def read_object(self, uri: str, *, max_bytes: int) -> bytes | None:
        path = to_path(uri)
        if not path.is_file():
            return None
        if path.stat().st_size > max_bytes:
            raise UsageError(f"{uri} is over {max_bytes} bytes", where=uri, hint="write a smaller report")
        return path.read_bytes()

    def job_log(self, kind: JobKind, job_name: str, *, follow: bool, is_done: Callable[[], bool]) -> Iterator[str]:
        return follow_file(self.home.job_log(job_name, kind), follow=follow, is_done=is_done)

    def job_code_dir(self, kind: JobKind, job_name: str) -> Path | None:
        return self.home.job_dir(job_name, kind) / "code"

    def status_detail(self, resource: str, status: str) -> str:
        return STATUS_DETAILS.get((resource, status), "")

    def runtime_url(self) -> str:
        return str(self.sagemaker().runtime_url())

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def follow_file(path: Path, *, follow: bool, is_done: Callable[[], bool]) -> Iterator[str]:
    """Lines of ``path`` as they are written; stops at the end, or once ``is_done()`` and drained."""
    position = 0
    pending = ""
    while True:
        done = is_done() if follow else True
        if path.exists():
            with open(path, encoding="utf-8", errors="replace") as log:
                log.seek(position)
                chunk = log.read()
                position = log.tell()
            lines = (pending + chunk).split("\n")
            pending = lines.pop()
            yield from lines
        if done:
            if pending:
                yield pending
            return
        time.sleep(LOG_POLL_SECONDS)

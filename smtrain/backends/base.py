"""The one interface between smtrain's workflow and a backend.

A backend hands out boto3-shaped clients (``sagemaker()``, ``runtime()``)
and knows where artifacts go, which image and role to use, how to upload
and how to read a job's log. The workflow runs the same plan against either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from smtrain.core.config import Config
from smtrain.planning.kinds import JobKind


@dataclass(frozen=True)
class SyncReport:
    """What a sync did: files and bytes sent, files already up to date, and what was left out."""

    uploaded_files: int
    uploaded_bytes: int
    unchanged_files: int
    uri: str
    warnings: list[str] = field(default_factory=list)  # secrets, links and the home, never sent


class Backend(Protocol):
    """Everything the executor, the Python API and the pipeline runner ask of a backend."""

    name: str  # "local" or "sagemaker": for messages and records, never for branching outside the backends
    config: Config
    poll_seconds: float  # between status polls
    runs_here: bool  # jobs and endpoints run on this machine: Ctrl-C stops a job, packing is most of a start-up

    def resolved_config(self) -> Config:
        """The configuration with the region the backend will really use."""

    def sagemaker(self) -> Any:
        """A client shaped like ``boto3.client("sagemaker")``."""

    def runtime(self) -> Any:
        """A client shaped like ``boto3.client("sagemaker-runtime")``."""

    def artifact_root(self) -> str:
        """``s3://BUCKET/PREFIX`` or ``file://HOME/store/PREFIX``: where uploads and outputs go."""

    def role(self) -> str: ...

    def image_uri(self, framework_version: str) -> str:
        """The scikit-learn framework image for training and serving."""

    def reserve(self, kind: JobKind, name: str) -> AbstractContextManager[None]:
        """Hold the name a job's ``Create*`` call will use, before anything is uploaded under it;
        raise the service's name-in-use error if it is taken. Released on leaving unless created."""

    def upload_source(self, source_dir: Path, entry_point: str, uri: str) -> None:
        """Pack ``source_dir`` (honouring ignore files, never ``.env``) to ``uri``."""

    def sync(self, local_dir: Path, uri: str, *, progress: bool = True) -> SyncReport:
        """Upload the files of ``local_dir`` under ``uri`` whose content changed."""

    def read_object(self, uri: str, *, max_bytes: int) -> bytes | None:
        """The bytes stored at ``uri`` (None when nothing is there); refuses an object above ``max_bytes``."""

    def job_log(self, kind: JobKind, job_name: str, *, follow: bool, is_done: Callable[[], bool]) -> Iterator[str]:
        """Lines of the job's log; with ``follow``, until ``is_done()`` and the log is drained."""

    def job_code_dir(self, kind: JobKind, job_name: str) -> Path | None:
        """Where this machine holds the job's copy of the user's code (None: in the job's container)."""

    def status_detail(self, resource: str, status: str) -> str:
        """What the backend really does while ``resource`` is in ``status`` ("" when nothing to add)."""

    def runtime_url(self) -> str:
        """The SageMaker Runtime address to give boto3 as ``endpoint_url`` ("" for AWS's own)."""

    def sleep(self, seconds: float) -> None: ...

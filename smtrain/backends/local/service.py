"""The local SageMaker service: shaped like ``boto3.client("sagemaker")``.

One method per API operation, PascalCase keyword arguments, responses in
the real shapes, ``botocore.exceptions.ClientError`` with the real error
codes. State lives in SQLite under ``$SMTRAIN_HOME`` so that jobs and
endpoints outlive the process that created them.

Every operation's request is first checked against SageMaker's service model
(:func:`smtrain.planning.validation.validate_request`): what boto3 refuses is refused
with botocore's ``ParamValidationError``, what the service refuses with its
``ValidationException``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from smtrain.backends.local.jobs.table import JobTable
from smtrain.backends.local.model_packages import RegistryAPI
from smtrain.backends.local.processing.operations import ProcessingJobsAPI
from smtrain.backends.local.serving.operations import EndpointsAPI
from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.training.operations import TrainingJobsAPI
from smtrain.backends.local.transform.operations import TransformJobsAPI
from smtrain.backends.local.tuning.operations import TuningJobsAPI
from smtrain.planning.kinds import JobKind

MAX_PORT = 65535
RESERVED_FIELDS = {"training": {"SecondaryStatus": "Starting"}}  # what a reader of a reserved job sees besides status


class LocalSageMaker(TrainingJobsAPI, TuningJobsAPI, ProcessingJobsAPI, TransformJobsAPI, EndpointsAPI,
                    RegistryAPI):
    def __init__(self, home: LocalHome, *, region: str = "us-east-1", runtime_port: int = 0) -> None:
        if not 0 <= int(runtime_port) <= MAX_PORT:
            raise ValueError(f"runtime_port must be 0-{MAX_PORT}, got {runtime_port}")
        self.home = home
        self.region = region
        self.runtime_port = runtime_port
        self.db = home.state()
        self._held: dict[tuple[str, str], str] = {}  # (kind, name) -> the token of a reservation this process holds
        self._tables: dict[str, JobTable] = {}

    def jobs(self, kind: JobKind) -> JobTable:
        """The records of ``kind``'s jobs (reservations, reads, stop, reconcile: the same for every kind)."""
        if kind.key not in self._tables:
            self._tables[kind.key] = JobTable(kind, self.home, self.db, self.region, self._held)
        return self._tables[kind.key]

    def reserve_job(self, kind: JobKind, name: str) -> None:
        """Hold ``name`` for a submission of a job of ``kind`` before anything is written under it."""
        self.jobs(kind).reserve(name, **RESERVED_FIELDS.get(kind.key, {}))

    def release_job(self, kind: JobKind, name: str) -> bool:
        """Give back the reservation; False when the job was created meanwhile."""
        return self.jobs(kind).release(name)


def validated(method_name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` behind the checks boto3 and the service make, when it is a SageMaker operation."""

    @functools.wraps(method)
    def call(self: LocalSageMaker, *args: Any, **params: Any) -> Any:
        from smtrain.planning.validation import operations

        operation = operations().get(method_name)
        if operation is None:
            return method(self, *args, **params)
        if args:
            raise TypeError(f"{method_name}() only accepts keyword arguments.")
        check_request(operation, params)
        return method(self, **params)

    return call


def check_request(operation: str, params: dict[str, Any]) -> None:
    from botocore.exceptions import ParamValidationError

    from smtrain.backends.local.errors import client_error
    from smtrain.planning.validation import RequestInvalid, validate_request

    try:
        validate_request(operation, params)
    except RequestInvalid as invalid:
        if invalid.kind == "param":
            raise ParamValidationError(report=invalid.message) from None
        raise client_error(operation, "ValidationException", invalid.message) from None


for _name in dir(LocalSageMaker):
    if not _name.startswith("_") and callable(getattr(LocalSageMaker, _name)):
        setattr(LocalSageMaker, _name, validated(_name, getattr(LocalSageMaker, _name)))

"""What the Python API hands back: prepared data, jobs and endpoints, each attached to its session.

They call back into the :class:`smtrain.Session` that made them only through the small protocols
below, so this module imports neither the session nor its endpoint operations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from smtrain.core.errors import UsageError
from smtrain.planning.kinds import JobKind
from smtrain.planning.spec import decode_hyperparameters


class JobSession(Protocol):
    def metric_history(self, name: str) -> Any: ...

    @property
    def deploy(self) -> Callable[..., Endpoint]: ...

    def logs(self, name: str, *, follow: bool = True) -> TrainingJob | Job: ...


class EndpointSession(Protocol):
    def predict(self, endpoint_name: str, data: Any, *, content_type: str = ..., accept: str = ...) -> Any: ...


@dataclass(frozen=True)
class Job:
    """A job of any kind, as its Describe call answers (a training job is a :class:`TrainingJob`)."""

    name: str
    kind: JobKind
    status: str
    description: dict[str, Any]

    @property
    def failure_reason(self) -> str:
        return str(self.description.get("FailureReason", ""))


@dataclass(frozen=True)
class Dataset:
    """Prepared data: local directories, the URIs they were synced to, training hyperparameters."""

    prepared: Any
    train_uri: str
    test_uri: str

    def hyperparameters(self) -> dict[str, Any]:
        return dict(self.prepared.hyperparameters())

    def test_set(self) -> tuple[Any, Any]:
        """The held-out ``(X_test, y_test)`` as a DataFrame and a Series."""
        from smtrain.project.data import load_test

        return load_test(self.prepared.test_dir)


@dataclass(frozen=True)
class TrainingJob:
    name: str
    status: str
    description: dict[str, Any]

    @property
    def model_data(self) -> str:
        return str(self.description.get("ModelArtifacts", {}).get("S3ModelArtifacts", ""))

    @property
    def failure_reason(self) -> str:
        return str(self.description.get("FailureReason", ""))

    # -- runs (issue 9): what a notebook asks of a job ------------------------------
    session: JobSession | None = field(default=None, repr=False, compare=False)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The user's hyperparameters, decoded as the training script receives them."""
        return {k: v for k, v in sorted(decode_hyperparameters(self.description.get("HyperParameters", {})).items())
                if not k.startswith("sagemaker_")}

    @property
    def metrics(self) -> Any:
        """Every metric value over time: a DataFrame with columns metric, step, value, timestamp."""
        return self._session().metric_history(self.name)

    def deploy(self, **options: Any) -> Endpoint:
        """Serve this job's model (see :meth:`Session.deploy`)."""
        return self._session().deploy(self.name, **options)

    def logs(self, *, follow: bool = False) -> TrainingJob | Job:
        """Print this job's log (see :meth:`Session.logs`)."""
        return self._session().logs(self.name, follow=follow)

    def _session(self) -> JobSession:
        if self.session is None:
            raise UsageError(f"training job {self.name} is not attached to a session", where="TrainingJob",
                             hint="get jobs from a Session: sm.job(name) or sm.fit(...)")
        return self.session


@dataclass(frozen=True)
class Endpoint:
    name: str
    status: str
    url: str
    session: EndpointSession  # the Session that deployed it

    def predict(self, data: Any, *, content_type: str = "text/csv", accept: str = "application/json") -> Any:
        return self.session.predict(self.name, data, content_type=content_type, accept=accept)

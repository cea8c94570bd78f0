"""The workflow on the sagemaker backend where moto cannot follow: a job that
runs on (status transitions, Ctrl-C), an endpoint update that fails."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

from smtrain.api.session import Session
from smtrain.core.config import Config
from smtrain.core.errors import AwsError, JobFailedError
from smtrain.execution.executor import Reporter
from smtrain.execution.following import follow_job
from smtrain.planning.kinds import TRAINING, JobKind

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


class Recorder(Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    def log_line(self, line: str) -> None:
        self.lines.append(f"log: {line}")


def not_found(operation: str, what: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": f"Could not find {what}."}}, operation)


class FakeSageMaker:
    """The few SageMaker operations these tests need, with the service's answers."""

    def __init__(self, jobs: list[dict[str, Any]] | None = None, update: str = "ok") -> None:
        self.jobs = jobs or [{"TrainingJobName": "job-1", "TrainingJobStatus": "Completed",
                              "ModelArtifacts": {"S3ModelArtifacts": "s3://b/job-1/output/model.tar.gz"},
                              "HyperParameters": {"sagemaker_program": '"penguins.py"'}}]
        self.update = update
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.endpoints = {"ep": {"EndpointName": "ep", "EndpointConfigName": "ep", "EndpointStatus": "InService"}}
        self.configs = {"ep": [{"VariantName": "AllTraffic", "ModelName": "ep"}]}
        self.models = {"ep"}

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        def record(**params: Any) -> dict[str, Any]:
            self.calls.append((name, params))
            return dict(getattr(self, f"_{name}")(**params), ResponseMetadata={"HTTPStatusCode": 200})

        return record

    def _describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        return self.jobs.pop(0) if len(self.jobs) > 1 else self.jobs[0]

    def _stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        return {}

    def _describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        if EndpointName not in self.endpoints:
            raise not_found("DescribeEndpoint", f"endpoint {EndpointName}")
        return dict(self.endpoints[EndpointName])

    def _describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        if EndpointConfigName not in self.configs:
            raise not_found("DescribeEndpointConfig", f"endpoint config {EndpointConfigName}")
        return {"EndpointConfigName": EndpointConfigName, "ProductionVariants": self.configs[EndpointConfigName]}

    def _create_model(self, ModelName: str, **_: Any) -> dict[str, Any]:
        self.models.add(ModelName)
        return {}

    def _create_endpoint_config(self, EndpointConfigName: str, ProductionVariants: list[Any],
                                **_: Any) -> dict[str, Any]:
        self.configs[EndpointConfigName] = ProductionVariants
        return {}

    def _update_endpoint(self, EndpointName: str, EndpointConfigName: str) -> dict[str, Any]:
        if self.update == "reject":
            raise ClientError({"Error": {"Code": "ValidationException",
                                         "Message": "The instance type is not supported."}}, "UpdateEndpoint")
        if self.update == "ok":
            self.endpoints[EndpointName]["EndpointConfigName"] = EndpointConfigName
        else:  # SageMaker rolls a failed update back to the config the endpoint ran on
            self.endpoints[EndpointName]["FailureReason"] = "The primary container did not pass the ping check."
        return {}

    def _delete_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        self.configs.pop(EndpointConfigName)
        return {}

    def _delete_model(self, ModelName: str) -> dict[str, Any]:
        self.models.remove(ModelName)
        return {}

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]


class FakeBackend:
    """A sagemaker-named backend over :class:`FakeSageMaker`."""

    name = "sagemaker"
    poll_seconds = 0.0
    runs_here = False

    def __init__(self, client: FakeSageMaker, log: Callable[[], Iterator[str]] | None = None) -> None:
        self.config = Config(backend="sagemaker", region=REGION, role=ROLE)
        self.client = client
        self.log = log
        self.sleeps: list[float] = []

    def sagemaker(self) -> FakeSageMaker:
        return self.client

    def artifact_root(self) -> str:
        return "s3://b/smtrain"

    def role(self) -> str:
        return ROLE

    def image_uri(self, framework_version: str) -> str:
        return "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

    def runtime_url(self) -> str:
        return ""

    def job_log(self, kind: JobKind, job_name: str, *, follow: bool, is_done: Callable[[], bool]) -> Iterator[str]:
        assert self.log is not None
        is_done()
        return self.log()

    def job_code_dir(self, kind: JobKind, job_name: str) -> None:
        return None

    def status_detail(self, resource: str, status: str) -> str:
        return ""

    def resolved_config(self) -> Config:
        return self.config

    @contextmanager
    def reserve(self, kind: JobKind, name: str) -> Iterator[None]:
        yield

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def session_over(backend: FakeBackend) -> tuple[Session, Recorder]:
    session, reporter = Session.__new__(Session), Recorder()
    session.config, session.backend, session.reporter = backend.config, backend, reporter  # type: ignore[assignment]
    return session, reporter


# -- following a training job ------------------------------------------------------------


def running(secondary: str, *transitions: tuple[str, str]) -> dict[str, Any]:
    status = secondary if secondary in ("Completed", "Failed", "Stopped") else "InProgress"
    return {"TrainingJobName": "job-1", "TrainingJobStatus": status, "SecondaryStatus": secondary,
            "SecondaryStatusTransitions": [{"Status": s, "StatusMessage": m} for s, m in transitions]}


def test_status_transitions_are_reported_once_each() -> None:
    launching = ("Starting", "Launching requested ML instances")
    preparing = ("Starting", "Preparing the instances for training")
    downloading = ("Downloading", "Downloading input data")
    training = ("Training", "Training image download completed. Training in progress.")
    completed = ("Completed", "Training job completed")
    client = FakeSageMaker(jobs=[
        running("Starting", launching), running("Starting", launching), running("Starting", preparing),
        running("Downloading", preparing, downloading), running("Training", preparing, downloading, training),
        running("Completed", preparing, downloading, training, completed),
    ])
    backend = FakeBackend(client)
    reporter = Recorder()
    final = follow_job(backend, TRAINING, "job-1", reporter, logs=False)  # type: ignore[arg-type]
    assert final["TrainingJobStatus"] == "Completed"
    assert reporter.lines == [" - ".join(t) for t in (launching, preparing, downloading, training, completed)]
    assert backend.sleeps == [0.0] * 5


def test_ctrl_c_detaches_from_a_sagemaker_job_and_says_how_to_stop_it() -> None:
    def log() -> Iterator[str]:
        yield "epoch 1"
        raise KeyboardInterrupt  # what Ctrl-C raises while the log is being read

    client = FakeSageMaker(jobs=[running("Training", ("Training", "Training in progress."))])
    reporter = Recorder()
    with pytest.raises(KeyboardInterrupt):
        follow_job(FakeBackend(client, log), TRAINING, "job-1", reporter)  # type: ignore[arg-type]
    assert reporter.lines == ["Training - Training in progress.", "log: epoch 1",
                              "detached; job job-1 keeps running. Stop it with: "
                              "smtrain stop job-1 --backend sagemaker --region eu-west-1"]
    assert "stop_training_job" not in client.operations()  # the job runs on: only `smtrain stop` stops it


# -- updating an endpoint ----------------------------------------------------------------


def test_an_update_replaces_the_old_version() -> None:
    client = FakeSageMaker()
    session, _ = session_over(FakeBackend(client))
    endpoint = session.deploy("job-1", endpoint_name="ep")
    assert endpoint.status == "InService"
    (new,) = set(client.configs)
    assert new.startswith("ep-") and client.models == {new}
    assert client.endpoints["ep"]["EndpointConfigName"] == new


def test_a_rolled_back_update_keeps_the_old_version_and_says_why() -> None:
    client = FakeSageMaker(update="rollback")
    session, _ = session_over(FakeBackend(client))
    with pytest.raises(JobFailedError) as caught:
        session.deploy("job-1", endpoint_name="ep")
    assert "the update of endpoint ep failed and was rolled back" in caught.value.what
    assert "did not pass the ping check" in caught.value.what
    assert "previous model" in caught.value.hint
    # The endpoint still runs on its config and model: those stay, the new ones go.
    assert set(client.configs) == {"ep"} and client.models == {"ep"}


def test_a_rejected_update_removes_what_it_created() -> None:
    client = FakeSageMaker(update="reject")
    session, _ = session_over(FakeBackend(client))
    with pytest.raises(AwsError, match="The instance type is not supported"):
        session.deploy("job-1", endpoint_name="ep")
    assert set(client.configs) == {"ep"} and client.models == {"ep"}
    assert client.endpoints["ep"]["EndpointConfigName"] == "ep"

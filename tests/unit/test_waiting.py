"""The one wait loop, with an injected clock: what it reports, when it stops, how long it sleeps;
and the CLI and API's Wait steps, which go through it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from smtrain.core.errors import BackendError
from smtrain.execution.executor import Reporter, wait_for_status
from smtrain.execution.waiting import WaitFailedError, wait_for
from smtrain.planning.steps import Wait


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def describer(*statuses: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    answers = iter(statuses)
    return lambda: next(answers)


def test_success_reports_each_change() -> None:
    fake = FakeTime()
    seen: list[tuple[str, str]] = []
    describe = describer(
        {"TrainingJobStatus": "InProgress", "SecondaryStatus": "Starting"},
        {"TrainingJobStatus": "InProgress", "SecondaryStatus": "Starting"},
        {"TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"},
        {"TrainingJobStatus": "Completed", "SecondaryStatus": "Completed"},
    )
    final = wait_for(describe, "TrainingJobStatus", ("Completed",), ("Failed", "Stopped"), sleep=fake.sleep,
                     clock=fake.clock, interval=30, detail_key="SecondaryStatus",
                     on_status=lambda status, d: seen.append((status, d["SecondaryStatus"])))
    assert final["TrainingJobStatus"] == "Completed"
    assert seen == [("InProgress", "Starting"), ("InProgress", "Training"), ("Completed", "Completed")]
    assert fake.sleeps == [30, 30, 30]


def test_failure_carries_the_reason() -> None:
    fake = FakeTime()
    describe = describer({"EndpointStatus": "Creating"}, {"EndpointStatus": "Failed", "FailureReason": "bad image"})
    with pytest.raises(WaitFailedError, match="bad image") as caught:
        wait_for(describe, "EndpointStatus", ("InService",), ("Failed",), sleep=fake.sleep, clock=fake.clock,
                 what="endpoint e1")
    assert caught.value.status == "Failed" and caught.value.where == "endpoint e1"
    assert caught.value.description["FailureReason"] == "bad image"


def test_times_out_without_oversleeping() -> None:
    fake = FakeTime()
    with pytest.raises(BackendError, match="still Creating after 25 seconds"):
        wait_for(lambda: {"EndpointStatus": "Creating"}, "EndpointStatus", ("InService",), ("Failed",),
                 sleep=fake.sleep, clock=fake.clock, timeout=25, interval=10)
    assert fake.sleeps == [10, 10, 5]


def test_errors_of_describe_pass_through() -> None:
    def describe() -> dict[str, Any]:
        raise KeyError("gone")

    with pytest.raises(KeyError, match="gone"):
        wait_for(describe, "EndpointStatus", ("InService",), ("Failed",), sleep=FakeTime().sleep)


# -- a plan's Wait step (what the CLI and the Python API run) ----------------------------


class FakeBackend:
    name = "local"
    poll_seconds = 0.5
    runs_here = True

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.describe = describer(*answers)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sleeps: list[float] = []

    def sagemaker(self) -> FakeBackend:
        return self

    def describe_endpoint(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("DescribeEndpoint", params))
        return self.describe()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def status_detail(self, resource: str, status: str) -> str:
        from smtrain.backends.local.backend import STATUS_DETAILS

        return STATUS_DETAILS.get((resource, status), "")


class Recorder(Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.spinner: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    @contextmanager
    def waiting(self, what: str) -> Iterator[Any]:
        class Spinner:
            def update(_, status: str) -> None:
                self.spinner.append(f"{what}: {status}")

        yield Spinner()


ENDPOINT_READY = Wait("endpoint-ready", "sagemaker", "DescribeEndpoint", {"EndpointName": "e"}, "EndpointStatus",
                      ("InService",), ("Failed",))


def test_a_wait_step_says_each_status_once_and_feeds_the_spinner() -> None:
    backend = FakeBackend({"EndpointStatus": "Creating"}, {"EndpointStatus": "Creating"},
                          {"EndpointStatus": "InService"})
    reporter = Recorder()
    final = wait_for_status(backend, ENDPOINT_READY, reporter, params={"EndpointName": "e"})  # type: ignore[arg-type]
    assert final["EndpointStatus"] == "InService"
    assert reporter.lines == ["Endpoint status: Creating (starting the model server process, loading model)",
                              "Endpoint status: InService"]
    assert reporter.spinner == ["Endpoint: Creating", "Endpoint: InService"]
    assert backend.sleeps == [0.5, 0.5] and len(backend.calls) == 3


def test_a_wait_step_returns_a_failed_description_for_its_caller_to_judge() -> None:
    backend = FakeBackend({"EndpointStatus": "Failed", "FailureReason": "ping failed"})
    final = wait_for_status(backend, ENDPOINT_READY, Recorder(), params={})  # type: ignore[arg-type]
    assert final == {"EndpointStatus": "Failed", "FailureReason": "ping failed"}

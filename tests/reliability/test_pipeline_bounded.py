"""The local runner is bounded inside a state (B9): TimeoutSeconds covers retries and waits, expressions
have time and size limits, paths are Step Functions' own, and an execution stops at the 25,000-event cap.

Time is a fake clock where the bound is TimeoutSeconds (the runner's sleeps advance it), so nothing here
asserts a duration; bench figures come from running the same definitions on the real clock.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest
from botocore.exceptions import ClientError

from smtrain.pipeline.expressions import TIMEOUT_MS
from smtrain.pipeline.paths import StatesError, select
from smtrain.pipeline.runner import HISTORY_FULL, MAX_EVENTS, Runner

SDK = "arn:aws:states:::aws-sdk:sagemaker:"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


class Throttled:
    def __init__(self) -> None:
        self.calls = 0

    def describe_model_package_group(self, **_: Any) -> Any:
        self.calls += 1
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                          "DescribeModelPackageGroup")


def machine(states: dict[str, Any], start: str, timeout: int | None = None) -> dict[str, Any]:
    definition: dict[str, Any] = {"StartAt": start, "States": states}
    if timeout is not None:
        definition["TimeoutSeconds"] = timeout
    return definition


def test_timeout_seconds_covers_the_retries() -> None:
    """3 s of TimeoutSeconds against 60 retries a second apart: the execution ends at 3 s, not 61."""
    states = {"Probe": {"Type": "Task", "Resource": SDK + "describeModelPackageGroup",
                        "Parameters": {"ModelPackageGroupName": "g"}, "Next": "Done",
                        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 60,
                                   "BackoffRate": 1.0}]},
              "Done": {"Type": "Succeed"}}
    clock, client = Clock(), Throttled()
    execution = Runner(machine(states, "Probe", timeout=3), client, sleep=clock.sleep, clock=clock).run({}, name="t")
    assert (execution.status, execution.error) == ("TIMED_OUT", "States.Timeout")
    assert clock.now == 3.0 and client.calls == 4  # the attempts at 0, 1, 2 and 3 s; the next wait is cut at 3 s
    assert [e.kind for e in execution.history].count("Retrying") == 4


def test_timeout_seconds_cuts_a_long_wait() -> None:
    states = {"Nap": {"Type": "Wait", "Seconds": 86400, "Next": "Done"}, "Done": {"Type": "Succeed"}}
    clock = Clock()
    execution = Runner(machine(states, "Nap", timeout=5), None, sleep=clock.sleep, clock=clock).run({}, name="w")
    assert (execution.status, execution.error) == ("TIMED_OUT", "States.Timeout")
    assert clock.slept == [5.0]


@pytest.mark.parametrize(("expression", "message"), [
    ("($f := function($x){$f($x) + 1}; $f(1))", "Stack overflow"),  # recursion that grows the stack
    ("($f := function($x){$f($x)}; $f(1))", f"Evaluation timeout after {TIMEOUT_MS} milliseconds"),  # tail call
    ("[1..10000000]", "items is over the 256 KiB payload limit"),
    ("$count([1..10000000])", "items is over the 256 KiB payload limit"),
    ("$pad('', 10000000)", "characters is over the 256 KiB payload limit"),
])
def test_an_expression_runs_with_time_and_size_limits(expression: str, message: str) -> None:
    states = {"Compute": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": f"{{% {expression} %}}",
                          "Next": "Done"}, "Done": {"Type": "Succeed"}}
    tracemalloc.start()
    execution = Runner(machine(states, "Compute"), None).run({}, name="x")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (execution.status, execution.error) == ("FAILED", "States.QueryEvaluationError")
    assert message in execution.cause
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MiB"


def test_a_state_output_over_256_kib_fails_as_step_functions_does() -> None:
    states = {"Big": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $pad('', 200000) & $pad('', 200000) %}",
                      "Next": "Done"}, "Done": {"Type": "Succeed"}}
    execution = Runner(machine(states, "Big"), None).run({}, name="big")
    assert (execution.status, execution.error) == ("FAILED", "States.QueryEvaluationError")
    states["Big"]["Output"] = "{% [$pad('', 200000), $pad('', 200000)] %}"
    execution = Runner(machine(states, "Big"), None).run({}, name="big")
    assert (execution.status, execution.error) == ("FAILED", "States.DataLimitExceeded")


@pytest.mark.parametrize("path", [
    "$.items[?(@.name =~ /^(a+)+$/)]",  # jsonpath-ng's regex extension: exponential on "aaaa...!"
    "$.items[?(@.name =~ 'a')]",
    "$.items.`len`",
    "$.items[*].name.`sub(/a/, b)`",
    "$.items[\\name]",  # jsonpath-ng's sort
    "$.a + $.b",
    "$..name",
])
def test_paths_accept_only_what_step_functions_accepts(path: str) -> None:
    data = {"items": [{"name": "a" * 40 + "!"}], "a": 1, "b": 2}
    started = time.perf_counter()
    with pytest.raises(StatesError, match="is not a JSONPath Step Functions accepts"):
        select(path, data, {})
    assert time.perf_counter() - started < 5  # refused, not evaluated (a regex filter here took minutes)


def test_a_path_jsonpath_ng_cannot_read_is_a_states_error() -> None:
    with pytest.raises(StatesError, match="cannot be read"):
        select("$.a.where", {"a": {"where": 1}}, {})


def test_a_pass_cycle_stops_at_the_history_cap_with_step_functions_error() -> None:
    states = {"Ping": {"Type": "Pass", "Next": "Pong"}, "Pong": {"Type": "Pass", "Next": "Ping"}}
    tracemalloc.start()
    runner = Runner(machine(states, "Ping"), None)
    execution = runner.run({"payload": "x" * 1000}, name="cycle")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "States.Runtime", HISTORY_FULL)
    assert HISTORY_FULL == "The execution reached the maximum number of history events (25000)."
    assert runner.events == MAX_EVENTS - 1  # event 25,000 is the ExecutionFailed itself
    assert peak < 100 * 2**20, f"{peak / 2**20:.0f} MiB"


def test_a_succeed_may_be_the_25000th_event() -> None:
    """Only a failing 25,000th event ends the execution: ExecutionSucceeded may be it."""
    # ExecutionStarted, then 2 events per Pass: 12,498 Passes end at event 24,997; Succeed's 2 make 24,999.
    states: dict[str, Any] = {f"P{i}": {"Type": "Pass", "Next": f"P{i + 1}"} for i in range(12498)}
    states["P12498"] = {"Type": "Succeed"}
    runner = Runner(machine(states, "P0"), None)
    execution = runner.run({}, name="long")
    assert execution.status == "SUCCEEDED" and runner.events == MAX_EVENTS - 1

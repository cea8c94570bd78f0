"""A training job's CloudWatch log, streamed from moto's CloudWatch Logs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smtrain.aws.session import iter_job_log
from smtrain.planning.kinds import TRAINING


@pytest.fixture
def logs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("logs", region_name="eu-west-1")


class Job:
    """Writes log events the way SageMaker does: one stream per instance."""

    def __init__(self, logs: Any, name: str) -> None:
        self.logs = logs
        self.name = name
        self.clock = int(time.time() * 1000) - 60_000  # CloudWatch rejects events older than 14 days
        if not logs.describe_log_groups(logGroupNamePrefix=TRAINING.log_group)["logGroups"]:
            logs.create_log_group(logGroupName=TRAINING.log_group)

    def stream(self, host: str) -> str:
        name = f"{self.name}/{host}-1700000000"
        existing = self.logs.describe_log_streams(logGroupName=TRAINING.log_group, logStreamNamePrefix=name)
        if not existing["logStreams"]:
            self.logs.create_log_stream(logGroupName=TRAINING.log_group, logStreamName=name)
        return name

    def write(self, *messages: str, host: str = "algo-1") -> None:
        events = []
        for message in messages:
            self.clock += 10
            events.append({"timestamp": self.clock, "message": message})
        self.logs.put_log_events(logGroupName=TRAINING.log_group, logStreamName=self.stream(host), logEvents=events)


def test_reads_what_is_there_without_follow(logs: Any) -> None:
    job = Job(logs, "job-1")
    job.write("Invoking script", "accuracy=0.97\n")
    Job(logs, "job-10").write("another job's line")  # its prefix "job-10/" is not "job-1/"
    lines = list(iter_job_log(logs, TRAINING.log_group, "job-1/", follow=False, is_done=lambda: False, sleep=_no_sleep))
    assert lines == ["Invoking script", "accuracy=0.97"]


def test_no_log_group_yet_means_no_lines(logs: Any) -> None:
    lines = iter_job_log(logs, TRAINING.log_group, "job-1/", follow=False, is_done=lambda: True, sleep=_no_sleep)
    assert list(lines) == []


def test_follow_streams_in_order_until_the_job_is_done_and_drained(logs: Any) -> None:
    job = Job(logs, "job-1")
    sleeps: list[float] = []
    polls = iter([
        lambda: None,  # the job has not logged yet
        lambda: job.write("line 1", "line 2"),
        lambda: job.write("line 3"),
        lambda: job.write("line 4 (last before the job ends)"),
    ])
    done: list[bool] = []

    def is_done() -> bool:
        action = next(polls, None)
        if action is None:
            job.write("line 5 (delivered late, after the job ended)")
            done.append(True)
            return True
        action()
        return False

    lines = list(iter_job_log(logs, TRAINING.log_group, "job-1/", follow=True, is_done=is_done, sleep=sleeps.append,
                                   poll_seconds=2))
    assert lines == ["line 1", "line 2", "line 3", "line 4 (last before the job ends)",
                     "line 5 (delivered late, after the job ended)"]
    assert done == [True]  # is_done is not asked again once it said yes
    assert sleeps == [2, 2, 2, 2, 2]  # four polls while running, one grace interval after the end


def test_lines_written_during_the_grace_interval_are_read(logs: Any) -> None:
    job = Job(logs, "job-1")
    job.write("first")
    lines = iter_job_log(logs, TRAINING.log_group, "job-1/", follow=True, is_done=lambda: True,
                              sleep=lambda _: job.write("straggler"))
    assert list(lines) == ["first", "straggler"]


def test_several_instances_are_interleaved_by_time_and_prefixed(logs: Any) -> None:
    job = Job(logs, "job-1")
    job.write("a1", host="algo-1")
    job.write("b1", host="algo-2")
    job.write("a2", host="algo-1")
    lines = list(iter_job_log(logs, TRAINING.log_group, "job-1/", follow=False, is_done=lambda: True, sleep=_no_sleep))
    assert lines == ["[algo-1-1700000000] a1", "[algo-2-1700000000] b1", "[algo-1-1700000000] a2"]


def test_a_multiline_event_becomes_several_lines(logs: Any) -> None:
    Job(logs, "job-1").write("Traceback (most recent call last):\n  File \"train.py\"\nValueError: bad\n")
    lines = list(iter_job_log(logs, TRAINING.log_group, "job-1/", follow=False, is_done=lambda: True, sleep=_no_sleep))
    assert lines == ["Traceback (most recent call last):", '  File "train.py"', "ValueError: bad"]


def _no_sleep(_: float) -> None:
    raise AssertionError("should not sleep without follow")

"""A job's record, of any kind: status changes, timestamps, metrics, failure reasons.

Shared by each kind's API side (``<kind>/operations.py``) and its job supervisor, so it
imports only the standard library and the kinds' definitions. Records are ``Describe*``
bodies with timestamps stored as ISO strings; the operations turn them into ``datetime``
objects on the way out, as boto3 does.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from smtrain.core import metric_values
from smtrain.planning.kinds import TRAINING, JobKind

KIND = TRAINING.arn_type  # a training job's rows in the state DB
ACCOUNT = "000000000000"
RUNNING = ("InProgress", "Stopping")
TERMINAL = ("Completed", "Failed", "Stopped")
FAILURE_REASON_LIMIT = 1024

# The messages SageMaker shows in SecondaryStatusTransitions.
# What the local backend really does at each secondary status (SageMaker's own words name instances and images).
STATUS_MESSAGES = {
    "Starting": "starting job process",
    "Downloading": "copying source and input data into the job folder",
    "Training": "preparing the Python environment",
    "Uploading": "saving model.tar.gz",
    "Completed": "job completed",
    "Failed": "job failed",
    "Stopping": "stopping the job process",
    "Stopped": "job stopped",
    "MaxRuntimeExceeded": "job exceeded MaxRuntimeInSeconds",
}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def job_arn(region: str, name: str, arn_type: str = KIND) -> str:
    return f"arn:aws:sagemaker:{region}:{ACCOUNT}:{arn_type}/{name}"


def local(body: dict[str, Any]) -> dict[str, Any]:
    """The record's private fields (pids, paths), created on first use."""
    return body.setdefault("_local", {})


def set_secondary(body: dict[str, Any], status: str, when: str, message: str = "") -> None:
    """Close the current secondary status and open ``status``; a new ``message`` for the open one replaces its own
    (SageMaker, too, rewrites the message of the current status as it moves on)."""
    transitions = body.setdefault("SecondaryStatusTransitions", [])
    if message and transitions and transitions[-1]["Status"] == status and "EndTime" not in transitions[-1]:
        transitions[-1]["StatusMessage"] = message
        body["LastModifiedTime"] = when
        return
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = when
    message = message or STATUS_MESSAGES.get(status, "")
    transitions.append({"Status": status, "StartTime": when, "StatusMessage": message})
    body["SecondaryStatus"] = status
    body["LastModifiedTime"] = when


def finish(body: dict[str, Any], status: str, when: str, *, kind: JobKind = TRAINING, secondary: str = "",
           failure_reason: str = "") -> None:
    """Move a running job to a terminal ``status`` (its secondary status, for a kind that has one, defaults to
    the same word)."""
    if "SecondaryStatus" in body:
        set_secondary(body, secondary or status, when)
        body["SecondaryStatusTransitions"][-1]["EndTime"] = when
    body[kind.status_key] = status
    body["LastModifiedTime"] = when
    if kind.end_time_key:
        body[kind.end_time_key] = when
    if kind.start_time_key:
        start = body.setdefault(kind.start_time_key, when)
        seconds = max(0, round((parse_time(when) - parse_time(start)).total_seconds()))
        body.update(dict.fromkeys(kind.duration_keys, seconds))
    if failure_reason:
        body["FailureReason"] = failure_reason[:FAILURE_REASON_LIMIT]


class MetricParser:
    """``MetricDefinitions`` applied to log lines: first capture group as float, last value wins; a value that
    is not finite is kept as null with its text."""

    def __init__(self, definitions: Iterable[Mapping[str, str]]) -> None:
        self._patterns = [(d["Name"], re.compile(d["Regex"])) for d in definitions]
        self._values: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.dirty = False

    def feed(self, line: str) -> list[dict[str, Any]]:
        """Match ``line``; returns the values it held, in definition order (the run's metric history)."""
        found = []
        for name, pattern in self._patterns:
            match = pattern.search(line)
            if not match:
                continue
            try:  # nan, inf, 1e999: stored as null with their text (see smtrain.core.metric_values)
                value = metric_values.parsed(match.group(1) if pattern.groups else match.group(0))
            except (TypeError, ValueError):
                continue
            point = {"MetricName": name, "Value": value["Value"], "Timestamp": now_iso()}
            if "Text" in value:
                point["Text"] = value["Text"]
            found.append(point)
            with self._lock:
                self._values[name] = dict(point)
                self.dirty = True
        return found

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            self.dirty = False
            return [dict(v) for v in self._values.values()]


def user_error_reason(error_class: str, exit_code: int, output_tail: Iterable[str], command: str, *,
                      hint: str = "") -> str:
    """The toolkit's ``_CalledProcessError`` text, with the tail of the output as ``ErrorMessage``.

    The real image leaves ``ErrorMessage`` empty; smtrain keeps the end of the
    output (the traceback, ending with the exception line), trimmed from the
    front so that the message fits in the 1024 characters of ``FailureReason``; a ``hint`` (smtrain's own
    advice) goes last, as ``Hint "..."``, and the message is trimmed to leave it room.
    """
    head = f"{error_class}:\nExitCode {exit_code}\nErrorMessage \""
    extra = "\nExtraInfo \"OutOfMemory: Process killed by SIGKILL (signal 9)\"" if exit_code in (137, -9) else ""
    advice = f'\nHint "{hint}"' if hint else ""
    budget = FAILURE_REASON_LIMIT - len("AlgorithmError: ") - len(head) - 1
    if advice:  # what follows the message must fit too, or the hint is what gets cut
        budget -= len(advice) + len(extra) + len(f'\nCommand "{command}"')
    message = trim_front(error_excerpt(output_tail), budget)
    return f'{head}{message}"{extra}\nCommand "{command}"{advice}'


def error_excerpt(lines: Iterable[str]) -> str:
    """From the last Python traceback to the end of the output, or the last lines if there is none."""
    lines = [line.rstrip() for line in lines if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    return "\n".join(lines[starts[-1]:] if starts else lines[-20:])


def trim_front(text: str, limit: int) -> str:
    """``text`` with its beginning cut (at a line break when possible) to fit ``limit`` characters."""
    if len(text) <= limit:
        return text
    marker = "...\n"
    cut = text[len(text) - (limit - len(marker)):]
    newline = cut.find("\n")
    if 0 <= newline < len(cut) - 1 and len(cut) - newline > limit // 2:
        cut = cut[newline + 1:]
    return marker + cut


def failure_reason(failure_file_text: str) -> str:
    """SageMaker's ``FailureReason`` for an algorithm error: the first 1024 characters of ``output/failure``."""
    return ("AlgorithmError: " + failure_file_text.strip())[:FAILURE_REASON_LIMIT]

"""Run an exported Amazon States Language document against a SageMaker-shaped client.

The client is the local backend's service, or ``boto3.client("sagemaker")``
(pointed at moto, where botocore validates every Task's parameters against
the service model). Only what the exporter emits is supported; anything else
is refused before the execution starts.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from smtrain.core.errors import UsageError
from smtrain.pipeline.causes import readable_cause
from smtrain.planning.kinds import JobKind, by_sync_resource

from . import expressions
from .checks import check_definition, strict_json
from .paths import StatesError, put, render, select
from .states import choose, matches

UTC = dt.timezone.utc


# Step Functions' hard quota of 25,000 history events: event 25,000 may only be ExecutionSucceeded; anything
# else ends the execution FAILED with States.Runtime and this cause (the shape AWS reports, as quoted in
# github.com/loads/ardere/issues/86): https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html
MAX_EVENTS = 25000
HISTORY_FULL = f"The execution reached the maximum number of history events ({MAX_EVENTS})."
# How many history events Step Functions writes for each of ours: a Task attempt is TaskScheduled,
# TaskStarted and TaskSucceeded/TaskFailed, and a state that ends writes its <Type>StateExited.
TASK_EVENTS = {"Entered": 1, "Succeeded": 4, "Retrying": 3, "Caught": 4, "Failed": 0, "Aborted": 0}
STATE_EVENTS = {"Entered": 1, "Succeeded": 1, "Failed": 0, "Aborted": 0}
PAYLOAD_LIMIT = 256 * 1024  # bytes of a state's input or output: States.DataLimitExceeded beyond


class ExecutionTimedOut(Exception):
    """The state machine's TimeoutSeconds passed: the execution ends, with no Catch (as in Step Functions)."""


class HistoryFull(Exception):
    """The next event would pass Step Functions' history quota: the execution fails, with no Catch."""


class ExecutionAborted(KeyboardInterrupt):
    """Ctrl-C stopped the execution; ``execution`` is its record (status ABORTED, history up to the stop)."""

    def __init__(self, execution: Execution) -> None:
        super().__init__(f"execution {execution.name} aborted")
        self.execution = execution


@dataclass
class Event:
    state: str
    kind: str  # Entered, Succeeded, Failed, Retrying, Caught, Aborted
    detail: str = ""

    def describe(self) -> str:
        marks = {"Entered": "->", "Succeeded": "ok", "Failed": "!!", "Retrying": "..", "Caught": "=>", "Aborted": "XX"}
        text = f"  {marks.get(self.kind, '  ')} {self.state}: {self.kind}"
        return text + (f" - {self.detail}" if self.detail else "")


@dataclass
class Execution:
    name: str
    status: str = "RUNNING"
    output: Any = None
    error: str = ""
    cause: str = ""
    history: list[Event] = field(default_factory=list)
    data: Any = None  # the state's data when the execution ended (what `status` reads the job and gate from)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "output": self.output, "error": self.error,
                "cause": self.cause, "history": [vars(e) for e in self.history]}

    def states(self) -> dict[str, str]:
        """Each state's last status, in the order first entered."""
        found: dict[str, str] = {}
        for event in self.history:
            found[event.state] = {"Entered": "entered", "Succeeded": "succeeded", "Failed": "failed",
                                  "Caught": "caught", "Retrying": "retrying", "Aborted": "aborted"}[event.kind]
        return found


def load_definition(text: str, *, where: str) -> dict[str, Any]:
    definition = strict_json(text, where=where, what="the definition", hint="give a file `pipeline export` wrote",
                             check_depth=False)
    check_definition(definition, where=where)
    return dict(definition)


def parse_input(text: str) -> dict[str, Any]:
    value = strict_json(text, where="--input", what="the input", hint="give a JSON object")
    if not isinstance(value, dict):
        raise UsageError("the input must be a JSON object", where="--input", hint='e.g. {"instance_count": 2}')
    return value


class Runner:
    """One execution at a time; ``sleep`` and ``max_wait_seconds`` let the local backend skip long Waits."""

    events = 0

    def __init__(self, definition: dict[str, Any], client: Any, *, on_event: Callable[[Event], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, max_wait_seconds: float | None = None,
                 poll_seconds: float = 0.2, clock: Callable[[], float] = time.monotonic, objects: Any = None) -> None:
        check_definition(definition, where="definition")
        self.definition = definition
        self.client = client
        self.objects = objects  # what answers s3:getObject (objects.py); None: a definition without one
        self.on_event = on_event or (lambda event: None)
        self.sleep = sleep
        self.max_wait_seconds = max_wait_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.deadline = float("inf")

    def run(self, execution_input: dict[str, Any], *, name: str) -> Execution:
        """Execute the definition; its own first states refuse bad input (callers may check it before).

        Ctrl-C raises ExecutionAborted, which carries the execution (ABORTED, with its history).
        """
        execution = Execution(name)
        self.events = 1  # ExecutionStarted
        state_name = str(self.definition["StartAt"])
        try:
            return self.execute(execution, execution_input, state_name)
        except KeyboardInterrupt:
            last = execution.history[-1].state if execution.history else state_name
            self.emit(execution, last, "Aborted", "stopped by Ctrl-C")
            self.finish(execution, "ABORTED", error="States.Aborted", cause="stopped by Ctrl-C")
            raise ExecutionAborted(execution) from None

    def execute(self, execution: Execution, execution_input: dict[str, Any], state_name: str) -> Execution:
        started = dt.datetime.now(dt.timezone.utc).isoformat()
        context: dict[str, Any] = {"Execution": {"Name": execution.name, "Input": execution_input,
                                                 "StartTime": started}, "State": {}}
        self.deadline = self.clock() + float(self.definition.get("TimeoutSeconds", 99999999))
        data: Any = execution_input
        while True:
            state = self.definition["States"][state_name]
            try:
                self.emit(execution, state_name, "Entered", state["Type"])
                context["State"] = {"Name": state_name, "EnteredTime": dt.datetime.now(UTC).isoformat(),
                                    "RetryCount": 0}
                if self.clock() > self.deadline:
                    raise ExecutionTimedOut(state_name)
                ended = self.terminal(execution, state_name, state, data, context)
                if ended:
                    return ended
                data, state_name = self.step(execution, state_name, state, data, context)
                check_size(data)
                execution.data = data
            except ExecutionTimedOut:
                self.emit(execution, state_name, "Failed", "States.Timeout")
                return self.finish(execution, "TIMED_OUT", error="States.Timeout", cause="TimeoutSeconds passed")
            except HistoryFull:
                self.emit(execution, state_name, "Failed", f"States.Runtime: {HISTORY_FULL}")
                return self.finish(execution, "FAILED", error="States.Runtime", cause=HISTORY_FULL)
            except StatesError as exc:
                self.emit(execution, state_name, "Failed", f"{exc.error}: {readable_cause(exc.cause)}")
                return self.finish(execution, "FAILED", error=exc.error, cause=exc.cause)

    def terminal(self, execution: Execution, name: str, state: dict[str, Any], data: Any,
                 context: dict[str, Any]) -> Execution | None:
        """A Succeed or Fail state ends the execution."""
        if state["Type"] == "Succeed":
            self.emit(execution, name, "Succeeded")
            return self.finish(execution, "SUCCEEDED", output=data)
        if state["Type"] == "Fail":
            error, cause = self.failure(state, data, context)
            self.emit(execution, name, "Failed", f"{error}: {cause}")
            return self.finish(execution, "FAILED", error=str(error), cause=str(cause))
        return None

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def pause(self, seconds: float) -> None:
        """Sleep (shortened locally), but never past the execution's TimeoutSeconds."""
        shortened = min(seconds, self.max_wait_seconds) if self.max_wait_seconds is not None else seconds
        if shortened > self.remaining():
            self.sleep(max(self.remaining(), 0.0))
            raise ExecutionTimedOut("a wait")
        self.sleep(shortened)

    @staticmethod
    def failure(state: dict[str, Any], data: Any, context: dict[str, Any]) -> tuple[Any, Any]:
        """A Fail state's Error and Cause: literals, paths, or JSONata."""
        if state.get("QueryLanguage") == "JSONata":
            rendered = expressions.render({"Error": state.get("Error", ""), "Cause": state.get("Cause", "")},
                                          {"input": data, "context": context})
            return rendered["Error"], rendered["Cause"]
        error = select(state["ErrorPath"], data, context) if "ErrorPath" in state else state.get("Error", "")
        cause = select(state["CausePath"], data, context) if "CausePath" in state else state.get("Cause", "")
        return error, cause

    def step(self, execution: Execution, name: str, state: dict[str, Any], data: Any, context: dict[str, Any]
             ) -> tuple[Any, str]:
        kind = state["Type"]
        if kind == "Choice":
            next_state = choose(state, data, context)
            self.emit(execution, name, "Succeeded", f"next: {next_state}")
            return data, next_state
        if kind == "Wait":
            seconds = wait_seconds(state, data, context)
            self.pause(seconds)
            shortened = min(seconds, self.max_wait_seconds) if self.max_wait_seconds is not None else seconds
            note = f"{seconds:g}s" + (f" (shortened to {shortened:g}s)" if shortened < seconds else "")
            self.emit(execution, name, "Succeeded", note)
            return data, state["Next"]
        if kind == "Pass" and state.get("QueryLanguage") == "JSONata":
            output = expressions.render(state.get("Output", "{% $states.input %}"), {"input": data, "context": context})
            self.emit(execution, name, "Succeeded")
            return output, state["Next"]
        if kind == "Pass":
            result = render(state["Parameters"], data, context) if "Parameters" in state else state.get("Result", data)
            self.emit(execution, name, "Succeeded")
            return put(data, state.get("ResultPath", "$"), result), state["Next"]
        return self.task(execution, name, state, data, context)

    def task(self, execution: Execution, name: str, state: dict[str, Any], data: Any, context: dict[str, Any]
             ) -> tuple[Any, str]:
        attempts: dict[int, int] = {}
        while True:
            try:
                parameters = render(state.get("Parameters", {}), data, context)
                result = self.invoke(state["Resource"], parameters)
                if "ResultSelector" in state:
                    result = render(state["ResultSelector"], result, context)
                self.emit(execution, name, "Succeeded", summarize(result))
                return put(data, state.get("ResultPath", "$"), result), state["Next"]
            except StatesError as exc:
                wait = self.retry_wait(state.get("Retry", []), exc, attempts)
                if wait is not None:
                    self.emit(execution, name, "Retrying", f"{exc.error} (retry {context['State']['RetryCount'] + 1})")
                    self.pause(wait)  # TimeoutSeconds covers the retries too
                    context["State"]["RetryCount"] += 1
                    continue
                catcher = next((c for c in state.get("Catch", []) if matches(c["ErrorEquals"], exc.error)), None)
                if catcher is None:
                    raise
                self.emit(execution, name, "Caught",
                          f"{exc.error}: {readable_cause(exc.cause)[:300]} -> {catcher['Next']}")
                return put(data, catcher.get("ResultPath", "$"), {"Error": exc.error, "Cause": exc.cause}), \
                    catcher["Next"]

    @staticmethod
    def retry_wait(retriers: list[dict[str, Any]], exc: StatesError, attempts: dict[int, int]) -> float | None:
        for index, retrier in enumerate(retriers):
            if matches(retrier["ErrorEquals"], exc.error):
                count = attempts.get(index, 0)
                if count >= int(retrier.get("MaxAttempts", 3)):
                    return None
                attempts[index] = count + 1
                return float(retrier.get("IntervalSeconds", 1)) * float(retrier.get("BackoffRate", 2.0)) ** count
        return None

    def invoke(self, resource: str, parameters: dict[str, Any]) -> Any:
        from .checks import GET_OBJECT

        if resource == GET_OBJECT:
            return self.get_object(parameters)
        operation = resource.rsplit(":", 1)[1]
        sync = operation.endswith(".sync")
        operation = operation.removesuffix(".sync")
        result = self.api(operation, parameters, sdk=":aws-sdk:" in resource)
        kind = by_sync_resource(resource) if sync else None
        if kind is not None:
            return self.wait_for_job(kind, parameters[kind.name_key])
        return result

    def api(self, operation: str, parameters: dict[str, Any], *, sdk: bool = False) -> dict[str, Any]:
        from botocore.exceptions import ClientError, ParamValidationError

        from smtrain.planning.steps import method_name

        method = getattr(self.client, method_name(operation), None)
        if method is None:
            raise StatesError("States.Runtime", f"{operation} is not offered by this backend")
        try:
            response = dict(method(**parameters))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise StatesError(error_name(str(error.get("Code", "")), sdk=sdk),
                              str(error.get("Message", exc))) from exc
        except (ParamValidationError, TypeError) as exc:
            raise StatesError("States.Runtime", f"{operation}: invalid parameters: {exc}") from exc
        response.pop("ResponseMetadata", None)
        return response

    def get_object(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """``aws-sdk:s3:getObject``: the object's content as a string in ``Body``, or ``S3.NoSuchKeyException``."""
        if self.objects is None:
            raise StatesError("States.Runtime", "s3:getObject: this runner was given no object store")
        bucket, key = parameters.get("Bucket"), parameters.get("Key")
        if set(parameters) - {"Bucket", "Key"} or not isinstance(bucket, str) or not isinstance(key, str):
            raise StatesError("States.Runtime", f"s3:getObject takes Bucket and Key, not {sorted(parameters)}")
        return {"Body": self.objects.read(bucket, key)}

    def wait_for_job(self, kind: JobKind, job_name: str) -> dict[str, Any]:
        """``.sync``: poll the kind's Describe until the job ends; a job that did not succeed fails the Task.

        As in Step Functions, an execution that stops (Ctrl-C here) or times out stops the job.
        """
        try:
            while True:  # not waiting.wait_for: the execution's own deadline, as Step Functions counts it
                description = self.api(kind.describe, {kind.name_key: job_name})
                status = str(description.get(kind.status_key))
                if status in kind.success:
                    return description
                if status in kind.failure:
                    raise StatesError("States.TaskFailed", json.dumps(description, default=str))
                if self.clock() > self.deadline:
                    raise ExecutionTimedOut(job_name)
                self.sleep(self.poll_seconds)
        except (KeyboardInterrupt, ExecutionTimedOut):
            self.api(kind.stop, {kind.name_key: job_name})
            raise

    def emit(self, execution: Execution, state: str, kind: str, detail: str = "") -> None:
        task = self.definition["States"].get(state, {}).get("Type") == "Task"
        for _ in range((TASK_EVENTS if task else STATE_EVENTS).get(kind, 1)):
            if self.events + 1 >= MAX_EVENTS:  # only ExecutionSucceeded may be event 25,000
                raise HistoryFull(state)
            self.events += 1
        event = Event(state, kind, detail)
        execution.history.append(event)
        self.on_event(event)

    @staticmethod
    def finish(execution: Execution, status: str, *, output: Any = None, error: str = "", cause: str = ""
               ) -> Execution:
        execution.status, execution.output, execution.error, execution.cause = status, output, error, cause
        return execution


@lru_cache(maxsize=1)
def modelled_errors() -> frozenset[str]:
    """The error codes SageMaker's service model lists (ResourceNotFound, ResourceLimitExceeded, ...)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(shape.name for shape in model.error_shapes)


def error_name(code: str, *, sdk: bool) -> str:
    """The error Step Functions reports for a SageMaker error ``code`` (the sources are cited in export.py).

    A modelled error is ``SageMaker.<Code>`` with ``Exception`` appended; any other (throttling,
    validation) is the SDK's generic ``SageMaker.SageMakerException`` (aws-sdk integrations) or
    ``SageMaker.AmazonSageMakerException`` (optimized integrations).
    """
    if code in modelled_errors():
        return f"SageMaker.{code}" + ("" if code.endswith("Exception") else "Exception")
    return "SageMaker.SageMakerException" if sdk else "SageMaker.AmazonSageMakerException"


def wait_seconds(state: dict[str, Any], data: Any, context: dict[str, Any]) -> float:
    """A Wait's seconds; a SecondsPath must give a whole number, 0 or more (as Step Functions requires)."""
    if "Seconds" in state:
        return float(state["Seconds"])
    value = select(state["SecondsPath"], data, context)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StatesError("States.Runtime", f"SecondsPath {state['SecondsPath']} gave {value!r}, "
                                            "not a whole number of seconds (0 or more)")
    return float(value)


def check_size(data: Any) -> None:
    """A state's output is at most 256 KiB of JSON, as in Step Functions."""
    size = len(json.dumps(data, default=str).encode())
    if size > PAYLOAD_LIMIT:
        raise StatesError("States.DataLimitExceeded",
                          f"the state's output is {size:,} bytes; Step Functions allows {PAYLOAD_LIMIT:,}")


def summarize(result: Any) -> str:
    if isinstance(result, dict):
        for key in ("TrainingJobName", "ModelPackageArn", "EndpointStatus", "EndpointArn", "ModelArn"):
            if key in result:
                return f"{key}={result[key]}"
    return ""

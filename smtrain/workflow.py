"""Runs plans against a backend: uploads, API calls, waits.

The same code drives the local backend and SageMaker; only the backend
object differs. Progress goes to a :class:`Reporter` so the CLI, the
Python API and tests each decide where it is shown.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from smtrain.backends.base import Backend
from smtrain.errors import NotFoundError, SmtrainError
from smtrain.plan import ApiCall, Plan, Ref, Upload, Wait, resolve, snake_case

if TYPE_CHECKING:
    from smtrain.progress import Waiting

NOT_FOUND_MARKERS = ("not found", "could not find", "does not exist")
# Request members and the settings that fill them, to say where a refused value came from.
FLAGS = {
    "inputDataConfig": "--channel", "hyperParameters": "--hp", "environment": "--env",
    "algorithmSpecification.metricDefinitions": "--metric-definition", "trainingJobName": "--job-name",
    "resourceConfig": "--instance-type/--instance-count/SMTRAIN_VOLUME_SIZE_GB",
    "stoppingCondition": "SMTRAIN_MAX_RUNTIME_SECONDS/--max-wait", "vpcConfig": "--subnet/--security-group",
    "endpointName": "--endpoint-name", "productionVariants": "--instance-type/--serverless-memory/"
    "--serverless-concurrency",
}

# What a local endpoint really does while SageMaker would be starting an instance.
LOCAL_DETAILS = {
    ("Endpoint", "Creating"): "starting the model server process, loading model",
    ("Endpoint", "Updating"): "starting a new model server process, loading model",
}


class Reporter:
    """Where progress goes: stderr, or stdout in a notebook (Jupyter paints stderr red).

    While a spinner runs (:meth:`waiting`), lines are printed above it so the two never garble each other.
    """

    _live: Waiting | None = None  # a class default: subclasses need not call __init__

    def info(self, message: str) -> None:
        self.write(message)

    def log_line(self, line: str) -> None:
        self.write(line)

    def stream(self) -> TextIO:
        return sys.stdout if in_notebook() else sys.stderr

    def write(self, text: str, stream: TextIO | None = None) -> None:
        stream = stream or self.stream()
        live = self._live
        if live is None or live.console is None:
            print(text, file=stream, flush=True)
        elif live.console.file is stream:
            live.console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
        else:
            with live.paused():
                print(text, file=stream, flush=True)

    @contextmanager
    def waiting(self, what: str) -> Iterator[Waiting]:
        """A spinner with the elapsed time and the status while the block runs (on a terminal only)."""
        from smtrain.progress import waiting

        with waiting(what, stream=self.stream()) as handle:
            previous, self._live = self._live, handle
            try:
                yield handle
            finally:
                self._live = previous


class QuietReporter(Reporter):
    def info(self, message: str) -> None:
        pass

    def log_line(self, line: str) -> None:
        pass

    @contextmanager
    def waiting(self, what: str) -> Iterator[Waiting]:
        from smtrain.progress import Waiting

        yield Waiting(what)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return getattr(shell, "kernel", None) is not None


def call(backend: Backend, operation: str, params: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
    """One API call on the backend's SageMaker client, errors translated."""
    client = backend.sagemaker()
    try:
        response = dict(getattr(client, snake_case(operation))(**params))
    except Exception as exc:
        from smtrain.hints import suggest

        raise translate(exc, where=where or operation, listing=suggest(backend.config, "ls"),
                        backend=backend.name) from exc
    response.pop("ResponseMetadata", None)  # HTTP details: every backend answers with the resource alone
    return response


def translate(exc: Exception, *, where: str, listing: str = "smtrain ls", backend: str = "sagemaker") -> Exception:
    if isinstance(exc, SmtrainError):
        return exc
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if any(marker in message.lower() for marker in NOT_FOUND_MARKERS) and "role" not in message.lower():
            return NotFoundError(message, where=where, hint=f"`{listing}` lists what exists")
    if isinstance(exc, ClientError | BotoCoreError):
        from smtrain.aws_errors import translate as translate_aws

        return translate_aws(exc, where=where, backend=backend)
    return exc


def execute(plan: Plan, backend: Backend, reporter: Reporter, *, wait: bool = True) -> dict[str, dict[str, Any]]:
    """Run every step in order; results by step name (Refs resolve against them).

    Before anything runs, every request is checked against SageMaker's rules and the
    names the plan creates are reserved: check, reserve, then upload.
    """
    check_requests(plan)
    results: dict[str, dict[str, Any]] = {}
    with reserved_names(plan, backend):
        for step in plan:
            if isinstance(step, Upload):
                results[step.step] = run_upload(step, backend, reporter)
            elif isinstance(step, ApiCall):
                results[step.step] = call_step(backend, step.operation, resolve(step.params, results))
            elif isinstance(step, Wait) and wait:
                params = resolve(step.params, results)
                results[step.step] = wait_for_status(backend, step, reporter, params=params)
    return results


def call_step(backend: Backend, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """One planned call; creating a model package group is idempotent (see smtrain.registry.create_group)."""
    if operation == "CreateModelPackageGroup":
        from smtrain.registry import create_group

        return create_group(backend, params)
    return call(backend, operation, params)


def check_requests(plan: Plan) -> None:
    """Refuse, before any upload, a request SageMaker would refuse (too long, out of range, bad pattern)."""
    from smtrain.errors import UsageError
    from smtrain.validation import Placeholder, RequestInvalid, validate_request

    for step in plan:
        if isinstance(step, ApiCall) and step.service == "sagemaker":
            try:
                validate_request(step.operation, placeholders(step.params, Placeholder))
            except RequestInvalid as invalid:
                flags = sorted({flag for path in invalid.paths for member, flag in FLAGS.items()
                                if path.startswith(member)})
                where = f"{step.operation} request" + (f" ({', '.join(flags)})" if flags else "")
                raise UsageError(invalid.message, where=where,
                                 hint="SageMaker refuses this request; change the value named above") from None


def placeholders(value: Any, placeholder: type[str]) -> Any:
    """``value`` with each Ref replaced by a placeholder string (its value is known only when the plan runs)."""
    if isinstance(value, Ref):
        return placeholder(f"<{value.step}.{value.path}>")
    if isinstance(value, Mapping):
        return {k: placeholders(v, placeholder) for k, v in value.items()}
    if isinstance(value, list):
        return [placeholders(v, placeholder) for v in value]
    return value


@contextmanager
def reserved_names(plan: Plan, backend: Backend) -> Iterator[None]:
    """Hold the names of the training jobs the plan creates while it runs (see ``Backend.reserve``)."""
    reserve = getattr(backend, "reserve", None)  # every real backend has it; simple test doubles may not
    with ExitStack() as stack:
        for step in plan:
            if reserve and isinstance(step, ApiCall) and step.operation == "CreateTrainingJob":
                name = str(step.params["TrainingJobName"])
                try:
                    stack.enter_context(reserve(step.operation, name))
                except Exception as exc:
                    raise translate(exc, where=f"training job {name}", backend=backend.name) from exc
        yield


def run_upload(step: Upload, backend: Backend, reporter: Reporter) -> dict[str, Any]:
    if step.kind == "source":
        if backend.name == "local":  # locally this is most of the start-up time; say what it is
            reporter.info(f"packing source {step.local_path} (entry point {step.entry_point})")
        backend.upload_source(Path(step.local_path), step.entry_point, step.uri)
        return {"Uri": step.uri}
    report = backend.sync(Path(step.local_path), step.uri, progress=True)
    reporter.info(f"synced {step.local_path} -> {step.uri}: {describe_sync(report)}")
    return {"Uri": step.uri}


def describe_sync(report: Any) -> str:
    if not report.uploaded_files:
        return f"0 bytes uploaded, {report.unchanged_files} file(s) unchanged"
    return (
        f"{report.uploaded_files} file(s), {report.uploaded_bytes:,} bytes uploaded; "
        f"{report.unchanged_files} unchanged"
    )


def wait_for_status(backend: Backend, step: Wait, reporter: Reporter, *, params: Mapping[str, Any]) -> dict[str, Any]:
    """Poll (:func:`smtrain.waiting.wait_for`) until the status is final, saying each new one; the last
    description, whether the status is a success or a failure."""
    from smtrain.waiting import WaitFailedError, wait_for

    resource = step.operation.removeprefix("Describe")
    with reporter.waiting(resource) as spinner:

        def report(status: str, _description: Mapping[str, Any]) -> None:
            detail = LOCAL_DETAILS.get((resource, status), "") if backend.name == "local" else ""
            reporter.info(f"{resource} status: {status}" + (f" ({detail})" if detail else ""))
            spinner.update(status)

        try:
            return wait_for(lambda: call(backend, step.operation, params), step.status_key, step.success,
                            step.failure, sleep=backend.sleep, interval=float(getattr(backend, "poll_seconds", 10.0)),
                            on_status=report, what=resource)
        except WaitFailedError as failed:
            return failed.description


def follow_training(backend: Backend, job_name: str, reporter: Reporter, *, logs: bool = True,
                    source_dir: str | Path | None = None) -> dict[str, Any]:
    """Stream the job's log while it runs; return its final description.

    The final status is printed only once the log is drained, so the script's
    last lines come before it. Paths into the job's copy of the code are shown
    as paths into ``source_dir``. Ctrl-C stops a local job (its whole process
    tree); on SageMaker it only detaches, since the job runs on and bills until
    it ends or is stopped.
    """
    describe = {"TrainingJobName": job_name}
    final: dict[str, Any] = {}
    shown: set[tuple[str, str]] = set()
    to_user_paths = path_mapper(code_prefixes(backend, job_name), source_dir)
    with reporter.waiting(f"training job {job_name}") as spinner:

        def is_done() -> bool:
            final.update(call(backend, "DescribeTrainingJob", describe))
            done = final["TrainingJobStatus"] in ("Completed", "Failed", "Stopped")
            if not done:
                report_transitions(final, shown, reporter)
            spinner.update(str(final.get("SecondaryStatus", "")))
            return done

        try:
            if logs:
                for line in backend.job_log(job_name, follow=True, is_done=is_done):
                    reporter.log_line(to_user_paths(line))
            else:
                while not is_done():
                    backend.sleep(float(getattr(backend, "poll_seconds", 10.0)))
        except KeyboardInterrupt:
            return interrupt_training(backend, job_name, reporter)
        report_transitions(final, shown, reporter)
    return final


def code_prefixes(backend: Backend, job_name: str) -> list[str]:
    """Where the job's copy of the user's code lives: the local job folder, or the image's /opt/ml/code.

    The folder is given as written and as resolved: the script's traceback shows the real path, which
    differs where the home is reached through a link (on macOS, /tmp and $TMPDIR are links into /private)."""
    home = getattr(backend, "home", None)
    if home is None or not hasattr(home, "job_dir"):
        return ["/opt/ml/code/"]
    code = home.job_dir(job_name) / "code"
    return [*sorted({f"{code.resolve()}/", f"{code}/"}, key=len, reverse=True), "/opt/ml/code/"]  # longest first


def path_mapper(prefixes: list[str], source_dir: str | Path | None) -> Callable[[str], str]:
    """A function that rewrites ``prefixes`` to ``source_dir/`` in a line (unchanged without a source dir)."""
    if source_dir is None:
        return lambda line: line
    target = f"{Path(source_dir)}/" if str(source_dir) not in ("", ".") else ""

    def to_user_paths(line: str) -> str:
        for prefix in prefixes:
            line = line.replace(prefix, target)
        return line

    return to_user_paths


def without_traceback(reason: str) -> str:
    """A FailureReason with its quoted traceback cut to the exception line (the log already showed it all)."""
    import re

    def last_line(match: re.Match[str]) -> str:
        message = match.group(1)
        if "Traceback (most recent call last)" not in message:
            return match.group(0)
        lines = [line for line in message.splitlines() if line.strip()]
        return f'ErrorMessage "{lines[-1]}"'

    return re.sub(r'ErrorMessage "(.*?)"(?=\n(?:ExtraInfo|Command) |\Z)', last_line, reason, flags=re.DOTALL)


def report_transitions(description: Mapping[str, Any], shown: set[tuple[str, str]], reporter: Reporter) -> None:
    """Print each secondary status (``Starting - Preparing the instances for training``) once, as the SDK does."""
    for transition in description.get("SecondaryStatusTransitions", []):
        key = (str(transition.get("Status", "")), str(transition.get("StatusMessage", "")))
        if key not in shown:
            shown.add(key)
            reporter.info(" - ".join(part for part in key if part))


def interrupt_training(backend: Backend, job_name: str, reporter: Reporter) -> dict[str, Any]:
    if backend.name != "local":
        from smtrain.hints import suggest

        stop = suggest(backend.config, "stop", job_name)
        reporter.info(f"detached; job {job_name} keeps running. Stop it with: {stop}")
        raise KeyboardInterrupt
    reporter.info(f"stopping job {job_name} ...")
    call(backend, "StopTrainingJob", {"TrainingJobName": job_name})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        description = call(backend, "DescribeTrainingJob", {"TrainingJobName": job_name})
        if description["TrainingJobStatus"] in ("Stopped", "Completed", "Failed"):
            return description
        backend.sleep(0.1)
    return description


def endpoint_resources(backend: Backend, endpoint: str) -> tuple[str, list[str]]:
    """The endpoint's config name and its models' names."""
    description = call(backend, "DescribeEndpoint", {"EndpointName": endpoint}, where=f"endpoint {endpoint}")
    config_name = description["EndpointConfigName"]
    return config_name, config_models(backend, config_name)


def config_models(backend: Backend, config_name: str) -> list[str]:
    try:
        config = call(backend, "DescribeEndpointConfig", {"EndpointConfigName": config_name})
    except NotFoundError:
        return []
    return [variant["ModelName"] for variant in config.get("ProductionVariants", [])]


def delete_quietly(backend: Backend, operation: str, params: Mapping[str, Any]) -> bool:
    """Delete a resource; False when it was already gone."""
    try:
        call(backend, operation, params)
    except NotFoundError:
        return False
    return True

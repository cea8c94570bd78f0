"""Runs plans against a backend: uploads, API calls, waits.

The same code drives the local backend and SageMaker; only the backend
object differs. Progress goes to a :class:`Reporter` so the CLI, the
Python API and tests each decide where it is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from smtrain.aws.translation import is_aws_error, translate
from smtrain.backends.base import Backend
from smtrain.core.errors import NotFoundError, SmtrainError
from smtrain.planning.kinds import by_create
from smtrain.planning.steps import ApiCall, Plan, Ref, Upload, Wait, method_name, resolve

if TYPE_CHECKING:
    from smtrain.core.progress import Waiting

# Request members and the settings that fill them, to say where a refused value came from.
FLAGS = {
    "inputDataConfig": "--channel", "hyperParameters": "--hp", "environment": "--env",
    "algorithmSpecification.metricDefinitions": "--metric-definition", "trainingJobName": "--job-name",
    "resourceConfig": "--instance-type/--instance-count/SMTRAIN_VOLUME_SIZE_GB",
    "stoppingCondition": "SMTRAIN_MAX_RUNTIME_SECONDS/--max-wait", "vpcConfig": "--subnet/--security-group",
    "endpointName": "--endpoint-name", "productionVariants": "--instance-type/--serverless-memory/"
    "--serverless-concurrency",
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
        from smtrain.core.progress import waiting

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
        from smtrain.core.progress import Waiting

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
        response = dict(getattr(client, method_name(operation))(**params))
    except Exception as exc:
        if not is_aws_error(exc):
            raise
        from smtrain.core.hints import suggest

        raise translate(exc, where=where or operation, listing=suggest(backend.config, "ls"),
                        backend=backend.name) from exc
    response.pop("ResponseMetadata", None)  # HTTP details: every backend answers with the resource alone
    return response


def list_all(backend: Backend, operation: str, key: str, *, params: dict[str, Any] | None = None,
             limit: int = 0) -> list[dict[str, Any]]:
    """The ``key`` items of every page of a SageMaker ``List*`` call (at most ``limit`` when given): the one
    paginator (botocore's where the client has one), errors translated."""
    from smtrain.aws.session import iterate_pages

    request = {**(params or {}), "MaxResults": min(limit, 100) if limit else 100}
    items: list[dict[str, Any]] = []
    try:
        for page in iterate_pages(backend.sagemaker(), method_name(operation), request):
            items += page.get(key, [])
            if limit and len(items) >= limit:
                return items[:limit]
    except Exception as exc:
        if not is_aws_error(exc):
            raise
        raise translate(exc, where=operation, backend=backend.name, listing="smtrain ls") from exc
    return items


def report_notes(plan: Plan, reporter: Reporter) -> None:
    """A ``note:`` line per request field the SageMaker SDK's config.yaml set (as `smtrain plan` shows them)."""
    for step in plan:
        if isinstance(step, ApiCall):
            for note in step.notes:
                reporter.info(f"note: {step.operation} {note}")


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
    """One planned call; creating a model package group is idempotent (see create_group)."""
    if operation == "CreateModelPackageGroup":
        return create_group(backend, params)
    return call(backend, operation, params)


def create_group(backend: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """CreateModelPackageGroup, where a group that exists already is success: two first registrations into a
    new group both find no group (:func:`group_exists`) and both create it; the loser's "already exists"
    (SageMaker's ValidationException, which the local registry mirrors) is then the group it wanted."""
    try:
        return call(backend, "CreateModelPackageGroup", params)
    except SmtrainError as exc:
        if not _already_exists(exc.__cause__):
            raise
    group = call(backend, "DescribeModelPackageGroup", {"ModelPackageGroupName": params["ModelPackageGroupName"]})
    return {"ModelPackageGroupArn": group["ModelPackageGroupArn"]}


def _already_exists(error: BaseException | None) -> bool:
    response = getattr(error, "response", None) or {}
    detail = response.get("Error", {}) if isinstance(response, dict) else {}
    return detail.get("Code") == "ValidationException" and "already exists" in str(detail.get("Message", ""))


def check_requests(plan: Plan) -> None:
    """Refuse, before any upload, a request SageMaker would refuse (too long, out of range, bad pattern)."""
    from smtrain.core.errors import UsageError
    from smtrain.planning.validation import Placeholder, RequestInvalid, validate_request

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
    """Hold the names of the jobs (of any kind) the plan creates while it runs (see ``Backend.reserve``)."""
    with ExitStack() as stack:
        for step in plan:
            kind = by_create(step.operation) if isinstance(step, ApiCall) else None
            if isinstance(step, ApiCall) and kind is not None:
                name = str(step.params[kind.name_key])
                try:
                    stack.enter_context(backend.reserve(kind, name))
                except Exception as exc:
                    if not is_aws_error(exc):
                        raise
                    raise translate(exc, where=f"{kind.noun} {name}", backend=backend.name) from exc
        yield


def run_upload(step: Upload, backend: Backend, reporter: Reporter) -> dict[str, Any]:
    if step.kind == "source":
        if backend.runs_here:  # here this is most of the start-up time; say what it is
            reporter.info(f"packing source {step.local_path} (entry point {step.entry_point})")
        backend.upload_source(Path(step.local_path), step.entry_point, step.uri)
        return {"Uri": step.uri}
    if step.kind in ("file", "text"):
        put_one_file(step, backend)
        reporter.info(f"uploaded {step.local_path or step.uri.rsplit('/', 1)[-1]} -> {step.uri}")
        return {"Uri": step.uri}
    report = backend.sync(Path(step.local_path), step.uri, progress=True)
    reporter.info(f"synced {step.local_path} -> {step.uri}: {describe_sync(report)}")
    return {"Uri": step.uri}


def put_one_file(step: Upload, backend: Backend) -> None:
    """One file at ``step.uri``: synced from a folder that holds only it, so every backend's upload (and its
    KMS key) is the one ``sync`` already has."""
    import shutil
    import tempfile

    folder, name = step.uri.rsplit("/", 1)
    with tempfile.TemporaryDirectory(prefix="smtrain-upload-") as scratch:
        target = Path(scratch) / name
        if step.kind == "file":
            shutil.copyfile(step.local_path, target)
        else:
            target.write_text(step.content, encoding="utf-8")
        backend.sync(Path(scratch), folder + "/", progress=False)


def describe_sync(report: Any) -> str:
    if not report.uploaded_files:
        return f"0 bytes uploaded, {report.unchanged_files} file(s) unchanged"
    return (
        f"{report.uploaded_files} file(s), {report.uploaded_bytes:,} bytes uploaded; "
        f"{report.unchanged_files} unchanged"
    )


def wait_for_status(backend: Backend, step: Wait, reporter: Reporter, *, params: Mapping[str, Any]) -> dict[str, Any]:
    """Poll (:func:`smtrain.execution.waiting.wait_for`) until the status is final, saying each new one; the last
    description, whether the status is a success or a failure."""
    from smtrain.execution.waiting import WaitFailedError, wait_for

    resource = step.operation.removeprefix("Describe")
    with reporter.waiting(resource) as spinner:

        def report(status: str, _description: Mapping[str, Any]) -> None:
            detail = backend.status_detail(resource, status)
            reporter.info(f"{resource} status: {status}" + (f" ({detail})" if detail else ""))
            spinner.update(status)

        try:
            return wait_for(lambda: call(backend, step.operation, params), step.status_key, step.success,
                            step.failure, sleep=backend.sleep, interval=backend.poll_seconds,
                            on_status=report, what=resource)
        except WaitFailedError as failed:
            return failed.description


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

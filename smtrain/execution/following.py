"""Following a job of any kind to its end: its log while it runs, its status changes, Ctrl-C.

Every kind is followed the same way; what differs (the Describe and Stop operations, the
status key, the terminal states, where the log is) comes from its :class:`JobKind`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from smtrain.backends.base import Backend
from smtrain.core.errors import BackendError, NotFoundError
from smtrain.execution.executor import Reporter, call
from smtrain.execution.waiting import wait_for
from smtrain.planning.kinds import KINDS, JobKind

STOP_WAIT_SECONDS = 30.0


def follow_job(backend: Backend, kind: JobKind, job_name: str, reporter: Reporter, *, logs: bool = True,
               source_dir: str | Path | None = None) -> dict[str, Any]:
    """Stream the job's log while it runs; return its final description.

    The final status is printed only once the log is drained, so the script's
    last lines come before it. Paths into the job's copy of the code are shown
    as paths into ``source_dir``. Ctrl-C stops a job that runs on this machine
    (its whole process tree); on SageMaker it only detaches, since the job runs
    on and bills until it ends or is stopped.
    """
    describe = {kind.name_key: job_name}
    final: dict[str, Any] = {}
    shown: set[tuple[str, str]] = set()
    to_user_paths = path_mapper(code_prefixes(backend.job_code_dir(kind, job_name)), source_dir)
    with reporter.waiting(f"{kind.noun} {job_name}") as spinner:

        def is_done() -> bool:
            final.update(call(backend, kind.describe, describe))
            done = final[kind.status_key] in kind.terminal
            if not done:
                report_transitions(final, shown, reporter)
            spinner.update(status_line(final))
            return done

        try:
            if logs:
                for line in backend.job_log(kind, job_name, follow=True, is_done=is_done):
                    reporter.log_line(to_user_paths(line))
            else:
                while not is_done():
                    backend.sleep(backend.poll_seconds)
        except KeyboardInterrupt:
            return interrupt(backend, kind, job_name, reporter)
        report_transitions(final, shown, reporter)
    return final


def status_line(description: dict[str, Any]) -> str:
    """What the spinner shows: the secondary status, or a local transform job's records and files done."""
    progress = description.get("SmtrainProgress")
    if isinstance(progress, dict):
        return f"{progress['Records']:,} records, {progress['Files']}/{progress['FilesTotal']} files"
    return str(description.get("SecondaryStatus", ""))


def print_log(backend: Backend, kind: JobKind, job_name: str, reporter: Reporter, *,
              source_dir: str | Path | None = None) -> None:
    """The job's log as it is now, paths mapped as :func:`follow_job` maps them."""
    to_user_paths = path_mapper(code_prefixes(backend.job_code_dir(kind, job_name)), source_dir)
    for line in backend.job_log(kind, job_name, follow=False, is_done=lambda: True):
        reporter.log_line(to_user_paths(line))


def find_job(backend: Backend, name: str, kinds: tuple[JobKind, ...] = KINDS) -> tuple[JobKind, dict[str, Any]]:
    """The kind and description of the job called ``name`` (the first kind that has one)."""
    missing: NotFoundError | None = None
    for kind in kinds:
        try:
            return kind, call(backend, kind.describe, {kind.name_key: name}, where=f"{kind.noun} {name}")
        except NotFoundError as exc:
            missing = missing or exc
    raise missing or NotFoundError(f"job {name} not found", where=f"job {name}")


def code_prefixes(code_dir: Path | None) -> list[str]:
    """Where the job's copy of the user's code lives: its local folder, and the image's /opt/ml/code.

    The folder is given as written and as resolved: the script's traceback shows the real path, which
    differs where the home is reached through a link (on macOS, /tmp and $TMPDIR are links into /private)."""
    if code_dir is None:
        return ["/opt/ml/code/"]
    return [*sorted({f"{code_dir.resolve()}/", f"{code_dir}/"}, key=len, reverse=True), "/opt/ml/code/"]


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


def interrupt(backend: Backend, kind: JobKind, job_name: str, reporter: Reporter) -> dict[str, Any]:
    """Ctrl-C while following: stop a job that runs here, and wait (bounded) until it has stopped."""
    if not backend.runs_here:
        from smtrain.core.hints import suggest

        stop = suggest(backend.config, "stop", job_name)
        reporter.info(f"detached; job {job_name} keeps running. Stop it with: {stop}")
        raise KeyboardInterrupt
    reporter.info(f"stopping job {job_name} ...")
    call(backend, kind.stop, {kind.name_key: job_name})
    describe = {kind.name_key: job_name}
    try:
        return wait_for(lambda: call(backend, kind.describe, describe), kind.status_key, kind.terminal, (),
                        sleep=backend.sleep, timeout=STOP_WAIT_SECONDS, interval=0.1, what=f"{kind.noun} {job_name}")
    except BackendError:  # not stopped in time: say what it is now
        return call(backend, kind.describe, describe)

"""What every local job's supervisor does, whatever its kind: run a child in its own process group, stream
its output to the job log and through the metric regexes, honour a stop and the deadline, lay the
framework environment (with ``requirements.txt`` on top), and keep the job's record.

Each kind's supervisor (``training/supervisor.py``, ``processing/supervisor.py``) subclasses
:class:`JobSupervisor` and adds its own container contract. Start-up must stay cheap: standard
library and a few smtrain modules only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from smtrain.backends.local.jobs import job_state
from smtrain.backends.local.jobs.processes import end_descendants, group_alive, stop_group
from smtrain.backends.local.store.home import LocalHome
from smtrain.planning.kinds import JobKind

STOP_GRACE_SECONDS = 120.0  # SageMaker's grace between SIGTERM and SIGKILL when a job is stopped
LEFTOVER_GRACE_SECONDS = 2.0
POLL_SECONDS = 0.05
METRICS_FLUSH_SECONDS = 1.0
TAIL_LINES = 200
DEFAULT_MAX_RUNTIME_SECONDS = 86400


class Interrupted(Exception):
    """The job was stopped (``reason`` is ``Stopped`` or ``MaxRuntimeExceeded``)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class InstallError(Exception):
    """The framework or ``requirements.txt`` could not be installed; ``failure_text`` says why."""

    def __init__(self, failure_text: str) -> None:
        self.failure_text = failure_text
        super().__init__(failure_text)


class JobSupervisor:
    """One job of ``kind``: its record, its log, its child processes."""

    kind: JobKind

    def __init__(self, home: LocalHome, job_name: str, *, metric_definitions: Sequence[dict[str, str]] = ()) -> None:
        self.home = home
        self.db = home.state()
        self.name = job_name
        record = self.db.get(self.kind.arn_type, job_name)
        if record is None:
            raise SystemExit(f"no {self.kind.noun} named {job_name!r} in {home.root}")
        self.record = record
        self.metrics = job_state.MetricParser(metric_definitions or self._metric_definitions())
        max_runtime = record.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)
        self.deadline = time.monotonic() + float(max_runtime)
        self.stop_requested = threading.Event()
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.log_lock = threading.Lock()
        self.log = open(home.job_log(job_name, self.kind), "ab")  # noqa: SIM115 - closed by the subclass's run()
        self.metrics_flushed = 0.0

    def _metric_definitions(self) -> Sequence[dict[str, str]]:
        return ()

    # -- stopping ------------------------------------------------------------
    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.stop_requested.set()

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, self._on_sigterm)

    def _check_stop(self) -> None:
        """Between steps: a stop may also have been recorded before this process could take the signal."""
        status = (self.db.get(self.kind.arn_type, self.name) or {}).get(self.kind.status_key)
        if status != "InProgress":
            self.stop_requested.set()
        reason = self._stop_reason()
        if reason:
            self._acknowledge_stop()
            raise Interrupted(reason)

    def _stop_reason(self) -> str:
        if self.stop_requested.is_set():
            return "Stopped"
        if time.monotonic() > self.deadline:
            return "MaxRuntimeExceeded"
        return ""

    def _acknowledge_stop(self) -> None:
        self._update(lambda body: job_state.local(body).update(stop_acknowledged=True))

    # -- the framework environment -------------------------------------------
    def _image(self) -> str:
        raise NotImplementedError

    def _installing(self, message: str) -> None:
        """A status message while ``requirements.txt`` installs (a kind with secondary statuses shows it)."""

    def _interpreter(self, code_dir: Path) -> str:
        """The job's Python: its framework's environment, with ``code_dir/requirements.txt`` layered on top."""
        from smtrain.backends.local.environments import frameworks
        from smtrain.backends.local.environments.venvs import InstallFailed, ensure_venv

        environment = self._framework_environment(code_dir)
        python = environment.python
        requirements = code_dir / "requirements.txt"
        if requirements.is_file():
            self._installing(f"installing requirements from {requirements.name}")
            self._say(f"Installing dependencies from {requirements.name} into a cached environment under "
                      f"{self.home.venvs}")
            try:
                python = str(ensure_venv(requirements, self.home.venvs, self._run_install, base=environment.venv,
                                         python=environment.base_python))
            except InstallFailed as exc:
                raise InstallError(job_state.user_error_reason(
                    "InstallRequirementsError", exc.exit_code, self.tail, " ".join(exc.command))) from exc
        ran = frameworks.record(environment, frameworks.library_versions(python))
        # what `smtrain ls/show/diff` compare
        versions = {"python": ran["Python"], "python from": ran["PythonFrom"].split(":", 1)[0], **ran["Libraries"]}
        self._update(lambda body: job_state.local(body).update(framework=ran, versions=versions))
        self._say(f"Python {ran['Python']} ({ran['PythonFrom']})")
        self._say("Libraries: " + ", ".join(f"{k} {v}" for k, v in ran["Libraries"].items()))
        return python

    def _framework_environment(self, code_dir: Path) -> Any:
        from smtrain.backends.local.environments import frameworks
        from smtrain.backends.local.environments.venvs import InstallFailed

        version = frameworks.version_from_image(self._image()) or frameworks.default_version()
        try:
            environment = frameworks.environment_for(version, code_dir, self._run_install, self._say)
        except frameworks.FrameworkError as exc:
            raise InstallError(f"ClientError: {exc}") from exc
        except InstallFailed as exc:
            raise InstallError(job_state.user_error_reason(
                "InstallFrameworkError", exc.exit_code, self.tail, " ".join(exc.command))) from exc
        if environment.warning:
            self._say("WARNING " + environment.warning)
        return environment

    def _run_install(self, command: Sequence[str], cwd: Path) -> int:
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONUNBUFFERED="1")
        return self._run_child(command, cwd, env)

    def _process_token(self) -> str:
        """A mark the script's processes inherit, recorded so they can be found if this supervisor dies."""
        token = str(job_state.local(self.record).get("process_token") or uuid.uuid4().hex)
        self._update(lambda body: job_state.local(body).update(process_token=token))
        return token

    # -- the child -----------------------------------------------------------
    def _run_child(self, command: Sequence[str], cwd: Path, env: dict[str, str]) -> int:
        """Run ``command`` in its own process group, streaming to the log; honour stop and deadline."""
        process = subprocess.Popen(
            list(command), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            self._update(lambda body: job_state.local(body).update(script_pgid=process.pid))
            assert process.stdout is not None
            pump = threading.Thread(target=self._pump, args=(process.stdout.fileno(),), daemon=True)
            pump.start()
            reason = self._wait(process)
        except BaseException:
            stop_group(process.pid, grace_seconds=LEFTOVER_GRACE_SECONDS)  # never leave it orphaned
            end_descendants(grace_seconds=LEFTOVER_GRACE_SECONDS)
            raise
        if reason:
            self._acknowledge_stop()
            stop_group(process.pid, grace_seconds=STOP_GRACE_SECONDS)
        elif group_alive(process.pid):
            # The script is done but left children behind: they go with the job.
            stop_group(process.pid, grace_seconds=LEFTOVER_GRACE_SECONDS)
        # Detached descendants (setsid) are in no group we know: they go too, and free the output pipe.
        end_descendants(grace_seconds=LEFTOVER_GRACE_SECONDS)
        pump.join(timeout=5)
        if not pump.is_alive():  # a pump still blocked in read() must not see its fd reused
            process.stdout.close()
        self._update(lambda body: job_state.local(body).update(script_pgid=0))
        if reason:
            raise Interrupted(reason)
        return process.returncode

    def _wait(self, process: subprocess.Popen[bytes]) -> str:
        while True:
            try:
                process.wait(timeout=POLL_SECONDS)
                return ""
            except subprocess.TimeoutExpired:
                pass
            reason = self._stop_reason()
            if reason:
                return reason
            self._flush_metrics()

    def _pump(self, fd: int) -> None:
        """Copy the child's output to the log as it comes; split lines for metrics and the failure tail."""
        pending = b""
        while chunk := os.read(fd, 65536):
            with self.log_lock:
                self.log.write(chunk)
                self.log.flush()
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._consume(line)
        if pending:
            self._consume(pending)

    def _consume(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        self.tail.append(line)
        points = self.metrics.feed(line)
        if points:
            self._record_history(points)

    # -- the record ------------------------------------------------------------
    def _update(self, change: Callable[[dict[str, Any]], None]) -> None:
        body = self.db.update(self.kind.arn_type, self.name, change)
        if body is not None:
            self.record = body

    def _flush_metrics(self) -> None:
        """Metrics so far, at most once a second, so ``describe`` shows them while the job runs."""
        now = time.monotonic()
        if not self.metrics.dirty or now - self.metrics_flushed < METRICS_FLUSH_SECONDS:
            return
        self.metrics_flushed = now
        values = self.metrics.snapshot()
        self._update(lambda body: body.update(FinalMetricDataList=values))

    def _record_history(self, points: list[dict[str, Any]]) -> None:
        from smtrain.backends.local.store.reader import append_history

        append_history(self.home.root, self.name, points)

    def _say(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.log_lock:
            for line in message.splitlines() or [""]:
                self.log.write(f"{stamp} smtrain INFO     {line}\n".encode())
            self.log.flush()

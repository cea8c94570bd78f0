"""The job supervisor: runs one training job under the training-container contract.

Started detached by ``create_training_job`` as
``python -m smtrain.backends.local.training.supervisor HOME JOB_NAME``, in its own
session. It lays out the job's ``/opt/ml`` tree, installs ``requirements.txt``
(into a cached layered venv), runs the entry point in its own process group
with the toolkit's environment and arguments, streams its output to the job
log and through the metric regexes, and records the outcome: ``model.tar.gz``
and ``output.tar.gz`` on success, ``output/failure`` and ``FailureReason`` on
failure. SIGTERM (from ``stop_training_job``) or ``MaxRuntimeInSeconds``
stops the script's whole process group: SIGTERM, then SIGKILL after the grace
period SageMaker gives (120 s).

The job's whole process tree ends with it, however it ends: on Linux the
supervisor is a child subreaper, so a process the script detached (``setsid``,
a double fork) re-parents to it, and every descendant psutil finds is ended
once the script is done (see ``processes.end_descendants``).

Start-up must stay cheap: standard library and a few smtrain modules only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from smtrain.backends.local.jobs import hosts, job_state, sandbox
from smtrain.backends.local.jobs.processes import (
    JOB_TOKEN_VARIABLE,
    become_subreaper,
    end_descendants,
    group_alive,
    stop_group,
)
from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.training import workspace
from smtrain.backends.local.training.container_env import (
    ContainerPaths,
    TrainingEnvironment,
    entry_point_type,
    script_command,
    script_environment,
)
from smtrain.core.uris import to_path

STOP_GRACE_SECONDS = 120.0
LEFTOVER_GRACE_SECONDS = 2.0
POLL_SECONDS = 0.05
METRICS_FLUSH_SECONDS = 1.0
TAIL_LINES = 200


class Interrupted(Exception):
    """The job was stopped (``reason`` is ``Stopped`` or ``MaxRuntimeExceeded``)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class InstallError(Exception):
    """``requirements.txt`` could not be installed; ``failure_text`` is what ``output/failure`` gets."""

    def __init__(self, failure_text: str) -> None:
        self.failure_text = failure_text
        super().__init__(failure_text)


class Supervisor:
    def __init__(self, home: LocalHome, job_name: str) -> None:
        self.home = home
        self.db = home.state()
        self.name = job_name
        record = self.db.get(job_state.KIND, job_name)
        if record is None:
            raise SystemExit(f"no training job named {job_name!r} in {home.root}")
        self.record = record
        self.paths = ContainerPaths(home.job_dir(job_name))
        self.metrics = job_state.MetricParser(record["AlgorithmSpecification"].get("MetricDefinitions", []))
        max_runtime = record.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 86400)
        self.deadline = time.monotonic() + float(max_runtime)
        self.stop_requested = threading.Event()
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.log_lock = threading.Lock()
        self.log = open(home.job_log(job_name), "ab")  # noqa: SIM115 - closed in run()
        self.metrics_flushed = 0.0

    # -- the run ---------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, self._on_sigterm)
        try:
            if self.record["TrainingJobStatus"] in job_state.TERMINAL:
                return 0
            self._check_stop()
            self._transition("Downloading", start=True)
            self._prepare_tree()
            self._check_stop()
            self._transition("Training")
            tenv = self._training_environment()
            python = self._interpreter()
            self._check_stop()
            command, exit_code = self._run_script(tenv, python)
            if exit_code != 0:
                self._fail_user_script(command, exit_code)
                return 1
            self._complete()
            return 0
        except Interrupted as stop:
            self._stopped(stop.reason)
            return 0
        except InstallError as exc:
            self._fail(exc.failure_text)
            return 1
        except Exception:
            self._fail("Framework Error: \n" + job_state.trim_front(traceback.format_exc(), 900))
            return 1
        finally:
            end_descendants(grace_seconds=LEFTOVER_GRACE_SECONDS)
            self.log.close()

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.stop_requested.set()

    def _check_stop(self) -> None:
        """Between steps: a stop may also have been recorded before this process could take the signal."""
        status = (self.db.get(job_state.KIND, self.name) or {}).get("TrainingJobStatus")
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

    # -- preparing the container tree --------------------------------------

    def _prepare_tree(self) -> None:
        workspace.prepare_tree(self.record, self.paths, home_root=self.home.root, say=self._say)
        hosts.prepare_hosts(self.record, self.paths, say=self._say)  # --instance-count N: algo-2 ... algo-N

    # -- the script ----------------------------------------------------------

    def _training_environment(self) -> TrainingEnvironment:
        return workspace.training_environment(self.paths, self.name)

    def _interpreter(self) -> str:
        """The job's Python: its framework's environment, with ``requirements.txt`` layered on top."""
        from smtrain.backends.local.environments import frameworks
        from smtrain.backends.local.environments.venvs import InstallFailed, ensure_venv

        environment = self._framework_environment()
        python = environment.python
        requirements = self.paths.code / "requirements.txt"
        if requirements.is_file():
            self._transition("Training", message=f"installing requirements from {requirements.name}")
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

    def _framework_environment(self) -> Any:
        from smtrain.backends.local.environments import frameworks
        from smtrain.backends.local.environments.venvs import InstallFailed

        image = self.record["AlgorithmSpecification"].get("TrainingImage", "")
        version = frameworks.version_from_image(image) or frameworks.default_version()
        try:
            environment = frameworks.environment_for(version, self.paths.code, self._run_install, self._say)
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

    def _run_script(self, tenv: TrainingEnvironment, python: str) -> tuple[str, int]:
        program = tenv.program or ""
        kind = entry_point_type(os.listdir(self.paths.code), program)
        if kind == "COMMAND":
            os.chmod(self.paths.code / program, 0o777)
        command = script_command(kind, program, tenv.to_cmd_args(), python)
        environment = self._script_environment(tenv, python)
        self._transition("Training", message=f"running {program}")
        self._say("Invoking script with the following command:\n\n" + " ".join(command) + "\n")
        self.tail.clear()
        # Its folder at /opt/ml where possible (jobs/sandbox.py); N instances, N processes (jobs/hosts.py).
        run = hosts.job_command(
            command, program, self.record, self.paths, environment,
            lambda tree: self._script_environment(workspace.training_environment(tree, self.name), python),
            log=self.home.job_log(self.name), say=self._say)
        return " ".join(command), self._run_child(run, self.paths.code, environment)

    def _script_environment(self, tenv: TrainingEnvironment, python: str) -> dict[str, str]:
        environment = script_environment(
            os.environ, self.record.get("Environment", {}), tenv,
            region=job_state.local(self.record).get("region", ""),
            extra={"TRAINING_JOB_ARN": self.record["TrainingJobArn"], JOB_TOKEN_VARIABLE: self._process_token()},
        )
        if python != sys.executable:  # console scripts from requirements.txt are on PATH, as in the image
            environment["PATH"] = f"{Path(python).parent}:{environment.get('PATH', '')}"
        return environment

    def _process_token(self) -> str:
        """A mark the script's processes inherit, recorded so they can be found if this supervisor dies."""
        token = str(job_state.local(self.record).get("process_token") or uuid.uuid4().hex)
        self._update(lambda body: job_state.local(body).update(process_token=token))
        return token

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

    # -- outcomes ------------------------------------------------------------

    def _complete(self) -> None:
        (self.paths.output / "success").write_text("")
        self._transition("Uploading")
        self._upload_outputs()
        self._finish("Completed")

    def _stopped(self, reason: str) -> None:
        self._transition("Uploading")
        self._upload_outputs()
        self._finish("Stopped", secondary=reason)

    def _fail_user_script(self, command: str, exit_code: int) -> None:
        # The script's traceback is in the log just above: say the outcome, not the traceback again.
        self._fail(job_state.user_error_reason("ExecuteUserScriptError", exit_code, self.tail, command,
                                               hint=sandbox.failure_hint(self.tail)),
                   echo=f"ExecuteUserScriptError: ExitCode {exit_code}")

    def _fail(self, failure_text: str, *, echo: str = "") -> None:
        failure = self.paths.output / "failure"
        failure.parent.mkdir(parents=True, exist_ok=True)
        if not failure.exists():  # a failure file the script wrote itself wins, as in the toolkit
            failure.write_text(failure_text)
        text = failure.read_text(errors="replace")
        self._say("Reporting training FAILURE\n" + (echo or text))
        self._finish("Failed", failure_reason=job_state.failure_reason(text))

    def _upload_outputs(self) -> None:
        from smtrain.files.tarballs import write_tar_gz

        hosts.merge_outputs(self.record, self.paths)  # every instance's model/ and output/data/, as SageMaker keeps
        output = to_path(self.record["ModelArtifacts"]["S3ModelArtifacts"]).parent
        for folder, archive in ((self.paths.model, "model.tar.gz"), (self.paths.output_data, "output.tar.gz")):
            for warning in write_tar_gz(folder, output / archive).warnings():
                self._say(warning)

    # -- the record ------------------------------------------------------------

    def _update(self, change: Callable[[dict[str, Any]], None]) -> None:
        body = self.db.update(job_state.KIND, self.name, change)
        if body is not None:
            self.record = body

    def _transition(self, status: str, *, start: bool = False, message: str = "") -> None:
        def change(body: dict[str, Any]) -> None:
            if body["TrainingJobStatus"] not in job_state.RUNNING:
                return
            when = job_state.now_iso()
            if start:
                body["TrainingStartTime"] = when
            job_state.set_secondary(body, status, when, message)

        self._update(change)

    def _finish(self, status: str, *, secondary: str = "", failure_reason: str = "") -> None:
        final = self.metrics.snapshot()

        def change(body: dict[str, Any]) -> None:
            if body["TrainingJobStatus"] in job_state.TERMINAL:
                return
            if final:
                body["FinalMetricDataList"] = final
            job_state.finish(body, status, job_state.now_iso(), secondary=secondary, failure_reason=failure_reason)

        self._update(change)

    def _acknowledge_stop(self) -> None:
        self._update(lambda body: job_state.local(body).update(stop_acknowledged=True))

    def _flush_metrics(self) -> None:
        """Metrics so far, at most once a second, so ``describe`` shows them while the job runs."""
        now = time.monotonic()
        if not self.metrics.dirty or now - self.metrics_flushed < METRICS_FLUSH_SECONDS:
            return
        self.metrics_flushed = now
        values = self.metrics.snapshot()
        self._update(lambda body: body.update(FinalMetricDataList=values))

    # -- the run record (smtrain.runs reads these) ------------------------------

    def _record_history(self, points: list[dict[str, Any]]) -> None:
        from smtrain.backends.local.store.reader import append_history

        append_history(self.home.root, self.name, points)

    def _say(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.log_lock:
            for line in message.splitlines() or [""]:
                self.log.write(f"{stamp} smtrain INFO     {line}\n".encode())
            self.log.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m smtrain.backends.local.training.supervisor HOME JOB_NAME", file=sys.stderr)
        return 2
    become_subreaper()
    return Supervisor(LocalHome(Path(args[0])), args[1]).run()


if __name__ == "__main__":
    sys.exit(main())

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
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smtrain.backends.local.jobs import hosts, job_state, sandbox
from smtrain.backends.local.jobs.processes import JOB_TOKEN_VARIABLE, become_subreaper, end_descendants
from smtrain.backends.local.jobs.supervision import (
    LEFTOVER_GRACE_SECONDS,
    InstallError,
    Interrupted,
    JobSupervisor,
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
from smtrain.planning.kinds import TRAINING

__all__ = ["InstallError", "Interrupted", "Supervisor", "main"]


class Supervisor(JobSupervisor):
    kind = TRAINING

    def __init__(self, home: LocalHome, job_name: str) -> None:
        super().__init__(home, job_name)
        self.paths = ContainerPaths(home.job_dir(job_name))

    def _metric_definitions(self) -> Sequence[dict[str, str]]:
        return list(self.record["AlgorithmSpecification"].get("MetricDefinitions", []))

    def _image(self) -> str:
        return str(self.record["AlgorithmSpecification"].get("TrainingImage", ""))

    def _installing(self, message: str) -> None:
        self._transition("Training", message=message)

    # -- the run ---------------------------------------------------------

    def run(self) -> int:
        self._install_signal_handlers()
        try:
            if self.record["TrainingJobStatus"] in job_state.TERMINAL:
                return 0
            self._check_stop()
            self._transition("Downloading", start=True)
            self._prepare_tree()
            self._check_stop()
            self._transition("Training")
            tenv = self._training_environment()
            python = self._interpreter(self.paths.code)
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

    # -- preparing the container tree --------------------------------------

    def _prepare_tree(self) -> None:
        workspace.prepare_tree(self.record, self.paths, home_root=self.home.root, say=self._say)
        hosts.prepare_hosts(self.record, self.paths, say=self._say)  # --instance-count N: algo-2 ... algo-N

    # -- the script ----------------------------------------------------------

    def _training_environment(self) -> TrainingEnvironment:
        return workspace.training_environment(self.paths, self.name)

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

def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m smtrain.backends.local.training.supervisor HOME JOB_NAME", file=sys.stderr)
        return 2
    become_subreaper()
    return Supervisor(LocalHome(Path(args[0])), args[1]).run()


if __name__ == "__main__":
    sys.exit(main())

"""The processing job supervisor: runs one processing job under the processing container contract
(see :mod:`smtrain.backends.local.processing.contract` for the facts and their sources).

Started detached by ``create_processing_job`` as
``python -m smtrain.backends.local.processing.supervisor HOME JOB_NAME``. It writes
``config/processingjobconfig.json`` and ``config/resourceconfig.json``, copies each input to its
``LocalPath``, runs ``ContainerEntrypoint`` + ``ContainerArguments`` in the framework environment,
and once the script exited 0 uploads each output from its ``LocalPath``. The job's folder plays
``/opt/ml``. Stop, deadline, log and process tree are handled as for training
(:class:`smtrain.backends.local.jobs.supervision.JobSupervisor`).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smtrain.backends.local.jobs import job_state, sandbox
from smtrain.backends.local.jobs.processes import JOB_TOKEN_VARIABLE, become_subreaper, end_descendants
from smtrain.backends.local.jobs.supervision import (
    LEFTOVER_GRACE_SECONDS,
    InstallError,
    Interrupted,
    JobSupervisor,
)
from smtrain.backends.local.processing import contract, hosts
from smtrain.backends.local.store.home import LocalHome
from smtrain.core.uris import to_path
from smtrain.planning.kinds import PROCESSING

CODE_PATH = "/opt/ml/processing/input/code/"  # where FrameworkProcessor puts sourcedir.tar.gz
SHELLS = ("/bin/bash", "bash", "/bin/sh", "sh")


class ProcessingSupervisor(JobSupervisor):
    kind = PROCESSING

    def __init__(self, home: LocalHome, job_name: str) -> None:
        super().__init__(home, job_name)
        self.job_dir = home.job_dir(job_name, PROCESSING)

    def _image(self) -> str:
        return str(self.record["AppSpecification"].get("ImageUri", ""))

    def run(self) -> int:
        self._install_signal_handlers()
        try:
            if self.record[PROCESSING.status_key] in job_state.TERMINAL:
                return 0
            self._check_stop()
            self._update(lambda body: body.update(ProcessingStartTime=job_state.now_iso(),
                                                  LastModifiedTime=job_state.now_iso()))
            self._prepare_tree()
            self._check_stop()
            command, cwd, python = self._command()
            if hosts.instance_count(self.record) > 1:  # after the code is unpacked: each host gets it as it is
                hosts.prepare_hosts(self.record, self.job_dir, say=self._say)
            self._check_stop()
            exit_code = self._run_script(command, cwd, python)
            self._read_exit_message()
            if exit_code != 0:
                self._fail(job_state.user_error_reason("ExecuteUserScriptError", exit_code, self.tail,
                                                       " ".join(command), hint=sandbox.failure_hint(self.tail)),
                           echo=f"ExecuteUserScriptError: ExitCode {exit_code}")
                return 1
            hosts.merge_outputs(self.record, self.job_dir)
            self._upload_outputs()
            self._finish("Completed")
            return 0
        except Interrupted:
            self._finish("Stopped")
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

    # -- before the script -----------------------------------------------------------
    def _prepare_tree(self) -> None:
        """The config files, then every input at its LocalPath, before the script starts."""
        config = self.job_dir / "config"
        for folder in (config, self.job_dir / "output", self.job_dir / "processing"):
            folder.mkdir(parents=True, exist_ok=True)
        cluster = self.record.get("ProcessingResources", {}).get("ClusterConfig", {})
        files = {"processingjobconfig.json": contract.processing_job_config(self.record),
                 "resourceconfig.json": contract.resource_config(cluster.get("InstanceType", "local"))}
        for name, content in files.items():
            (config / name).write_text(json.dumps(content))
        from smtrain.backends.local.training.workspace import copy_channel

        for item in self.record.get("ProcessingInputs", []):
            source = item["S3Input"]
            self._say(f"input {item['InputName']}: {source['S3Uri']} -> {source['LocalPath']}")
            copy_channel(source["S3Uri"], contract.in_job(source["LocalPath"], self.job_dir),
                         home_root=self.home.root, say=self._say)
        for item in self.record.get("ProcessingOutputConfig", {}).get("Outputs", []):
            # "This directory will be created by the platform and exist when your container's entrypoint is
            # invoked" (API reference, ProcessingS3Output.LocalPath).
            contract.in_job(item["S3Output"]["LocalPath"], self.job_dir).mkdir(parents=True, exist_ok=True)

    def _command(self) -> tuple[list[str], Path, str]:
        """The script's command line, its working folder and its Python.

        ``python``/``python3`` first is the framework environment's Python; SDK v2's runproc.sh is done
        here as it would be in the image (untar, requirements.txt, then its command), with
        requirements.txt layered on the cached framework environment as for a training job.
        """
        app = self.record["AppSpecification"]
        entry = [str(word) for word in app.get("ContainerEntrypoint", [])]
        arguments = [contract.map_argument(str(a), self.job_dir) for a in app.get("ContainerArguments", [])]
        framework = self._framework_call(entry)
        if framework is not None:
            words, script = framework
            code = contract.in_job(CODE_PATH, self.job_dir)
            self._unpack_source(code)
            python = self._interpreter(code)
            program = [python if words[0] in contract.PYTHONS else words[0], *words[1:]]
            return [*program, script, *arguments], code, python
        code = contract.in_job(CODE_PATH, self.job_dir)
        python = self._interpreter(code if code.is_dir() else self.job_dir)
        mapped = [contract.map_argument(word, self.job_dir) for word in entry]
        if mapped[0] in contract.PYTHONS:
            mapped[0] = python
        return [*mapped, *arguments], self.job_dir, python

    def _framework_call(self, entry: list[str]) -> tuple[list[str], str] | None:
        if len(entry) != 2 or entry[0] not in SHELLS or not entry[1].endswith("runproc.sh"):
            return None
        script = contract.in_job(entry[1], self.job_dir)
        if not script.is_file():
            return None
        return contract.runproc_call(script.read_text(errors="replace"))

    def _unpack_source(self, code: Path) -> None:
        from smtrain.files.tarballs import safe_extract

        archive = code / "sourcedir.tar.gz"
        if archive.is_file():
            safe_extract(archive, code)

    # -- the script ------------------------------------------------------------------
    def _run_script(self, command: list[str], cwd: Path, python: str) -> int:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("SM_")}
        environment.update({str(k): str(v) for k, v in (self.record.get("Environment") or {}).items()})
        environment[JOB_TOKEN_VARIABLE] = self._process_token()
        if python != sys.executable:  # console scripts of the framework environment are on PATH, as in the image
            environment["PATH"] = f"{Path(python).parent}:{environment.get('PATH', '')}"
        self._say("Invoking script with the following command:\n\n" + " ".join(command) + "\n")
        self.tail.clear()
        # The job's folder at /opt/ml where the OS allows (jobs/sandbox.py): scripts that hard-code
        # /opt/ml/processing/... run unmodified. N instances: each host's own tree at its /opt/ml (hosts.py).
        if hosts.instance_count(self.record) > 1:
            launch = hosts.fan_out_command(self.record, self.job_dir, command, cwd,
                                           log=self.home.job_log(self.name, PROCESSING), say=self._say)
        else:
            launch = sandbox.job_command(command, self.job_dir, say=self._say)
        return self._run_child(launch, cwd, environment)

    def _read_exit_message(self) -> None:
        message = self.job_dir / "output" / "message"
        if message.is_file():
            text = message.read_text(errors="replace")[:contract.EXIT_MESSAGE_LIMIT]
            self._update(lambda body: body.update(ExitMessage=text))

    # -- after the script ------------------------------------------------------------
    def _upload_outputs(self) -> None:
        """Each output's LocalPath to its S3Uri; a folder the script left empty (or removed) gives an empty
        output and a warning, and the job still completes."""
        from smtrain.backends.local.training.workspace import copy_folder

        for item in self.record.get("ProcessingOutputConfig", {}).get("Outputs", []):
            output = item["S3Output"]
            source = contract.in_job(output["LocalPath"], self.job_dir)
            target = to_path(output["S3Uri"])
            target.mkdir(parents=True, exist_ok=True)
            if source.is_dir() and any(source.iterdir()):
                self._say(f"output {item['OutputName']}: {output['LocalPath']} -> {output['S3Uri']}")
                copy_folder(source, target, home_root=self.home.root, say=self._say)
            else:
                self._say(f"WARNING output {item['OutputName']}: the script wrote nothing to {output['LocalPath']}; "
                          f"its output {output['S3Uri']} is empty")

    def _fail(self, failure_text: str, *, echo: str = "") -> None:
        self._say("Reporting processing FAILURE\n" + (echo or failure_text))
        self._finish("Failed", failure_reason=job_state.failure_reason(failure_text))

    def _finish(self, status: str, *, failure_reason: str = "") -> None:
        def change(body: dict[str, Any]) -> None:
            if body[PROCESSING.status_key] in job_state.TERMINAL:
                return
            job_state.finish(body, status, job_state.now_iso(), kind=PROCESSING, failure_reason=failure_reason)

        self._update(change)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m smtrain.backends.local.processing.supervisor HOME JOB_NAME", file=sys.stderr)
        return 2
    become_subreaper()
    return ProcessingSupervisor(LocalHome(Path(args[0])), args[1]).run()


if __name__ == "__main__":
    sys.exit(main())

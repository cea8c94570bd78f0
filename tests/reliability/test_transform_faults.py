"""Local batch transform under faults: a dead runner or model server, undecodable records, an output it cannot
write. The job always ends, with a reason, and leaves no server running and no half-written .out."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest

from smtrain.backends.local.jobs import job_state
from smtrain.backends.local.service import LocalSageMaker
from smtrain.backends.local.serving.container import CONTAINER_MODULE
from smtrain.planning.kinds import TRANSFORM
from tests.functional.test_local_transform import folders, make_model, model_artifacts, notes_of, run, sm, wait_done
from tests.helpers import wait_until

__all__ = ["folders", "model_artifacts", "sm"]  # the fixtures, shared with the functional tier


def servers_of(service: LocalSageMaker, name: str) -> list[int]:
    body = service.db.get(TRANSFORM.arn_type, name) or {}
    return [int(server["pid"]) for server in job_state.local(body).get("servers", [])]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_a_runner_killed_mid_job_fails_the_job_and_its_servers_go(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    source, output, notes = folders
    (source / "slow.csv").write_text("1,1\n" * 200)
    model = make_model(sm, model_artifacts, "adder-killed", notes, SLOW_MODEL="1")
    run(sm, "killed", model, source, output, BatchStrategy="SingleRecord", wait=False)
    assert wait_until(lambda: notes_of(notes), timeout=60)
    body = sm.db.get(TRANSFORM.arn_type, "killed") or {}
    os.kill(int(job_state.local(body)["supervisor_pid"]), signal.SIGKILL)
    final = wait_done(sm, "killed")
    assert final["TransformJobStatus"] == "Failed" and "exited unexpectedly" in final["FailureReason"]
    assert wait_until(lambda: not any(alive(pid) for pid in servers_of(sm, "killed")), timeout=20)
    assert not list(output.rglob("*.csv.out"))


def test_a_dead_model_server_fails_the_job_naming_the_file(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    source, output, notes = folders
    (source / "slow.csv").write_text("1,1\n" * 200)
    model = make_model(sm, model_artifacts, "adder-dead", notes, SLOW_MODEL="1")
    run(sm, "dead-server", model, source, output, BatchStrategy="SingleRecord", wait=False)
    assert wait_until(lambda: notes_of(notes), timeout=60)
    for pid in servers_of(sm, "dead-server"):
        for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
            if CONTAINER_MODULE in " ".join(process.cmdline()) or process.pid == pid:
                process.kill()
    final = wait_done(sm, "dead-server")
    assert final["TransformJobStatus"] == "Failed"
    assert "slow.csv, after record" in final["FailureReason"] and "did not answer" in final["FailureReason"]
    assert not [p for p in output.rglob("*") if p.suffix in (".out", ".partial")]


@pytest.mark.parametrize(("body", "processing", "why"), [
    (b"1,2\n\xff\xfe,3\n", {"InputFilter": "$[1:]"}, "slow.csv, record 2"),
    (b"1,2\n3,4\n", {"OutputFilter": "$[7]"}, "slow.csv, record 1"),
])
def test_a_record_the_filters_cannot_read_fails_the_job_naming_it(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path], body: bytes,
        processing: dict[str, Any], why: str) -> None:
    source, output, notes = folders
    (source / "slow.csv").write_bytes(body)
    name = "filter-in" if "InputFilter" in processing else "filter-out"
    model = make_model(sm, model_artifacts, name, notes)
    final = run(sm, name, model, source, output, DataProcessing=processing)
    assert final["TransformJobStatus"] == "Failed" and why in final["FailureReason"], final.get("FailureReason")
    assert not list(output.rglob("*.out"))


def test_an_output_it_cannot_write_fails_the_job(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    source, output, notes = folders
    (source / "rows.csv").write_text("1,2\n")
    output.write_text("a file where the output folder should be")
    model = make_model(sm, model_artifacts, "adder-unwritable", notes)
    final = run(sm, "unwritable", model, source, output)
    assert final["TransformJobStatus"] == "Failed" and final["FailureReason"]
    assert output.read_text() == "a file where the output folder should be"

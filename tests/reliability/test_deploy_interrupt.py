"""Ctrl-C at any point of a deploy leaves no smtrain process behind, and no half-made endpoint.

A detached process (job supervisor, endpoint keeper, gateway) runs only once its
pid is recorded (``smtrain.backends.local.jobs.handover``), so the rollback always finds
what it must stop. These tests interrupt at fixed points inside the spawn, and the
real CLI at several stages of a deploy.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from botocore.exceptions import ClientError

from smtrain.backends.local.jobs import processes
from smtrain.backends.local.service import LocalSageMaker
from smtrain.backends.local.store.home import LocalHome
from tests.e2e.conftest import SMTRAIN, Cli
from tests.helpers import create_folder_model, interrupt_when, wait_until

SLOW_MODEL = """
import os
import time

if __name__ == "__main__":
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("m")


def model_fn(model_dir):
    time.sleep(120)  # the endpoint stays Creating until it is interrupted
"""
GONE_WITHIN = 15.0  # seconds for the processes of a rolled-back deploy to be gone, on a loaded machine


def processes_of(home: Path) -> list[psutil.Process]:
    """The live processes whose command line names ``home`` (every server and supervisor of it)."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.status() != psutil.STATUS_ZOMBIE and str(home) in " ".join(process.cmdline()):
                found.append(process)
    return found


def kill_all(found: list[psutil.Process]) -> None:
    for process in found:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(found, timeout=5)


def wait_until_gone(home: Path) -> list[psutil.Process]:
    wait_until(lambda: not processes_of(home), GONE_WITHIN)
    return processes_of(home)


# -- the handover itself ------------------------------------------------------


def test_a_process_whose_record_failed_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    spawned: list[int] = []

    def record(pid: int) -> None:
        spawned.append(pid)
        raise KeyboardInterrupt  # Ctrl-C before the pid was kept anywhere

    with pytest.raises(KeyboardInterrupt):
        processes.spawn_detached([sys.executable, "-c", f"open({str(marker)!r}, 'w')"],
                                 log_path=tmp_path / "log", record=record)
    psutil.wait_procs([psutil.Process(spawned[0])], timeout=GONE_WITHIN)
    assert not processes.is_alive(spawned[0])
    assert not marker.exists()
    assert "ended before recording it" in (tmp_path / "log").read_text()


def test_a_recorded_process_runs_with_its_own_pid(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    recorded: list[int] = []
    pid = processes.spawn_detached(
        [sys.executable, "-c", f"import os; open({str(marker)!r}, 'w').write(str(os.getpid()))"],
        log_path=tmp_path / "log", record=recorded.append)
    wait_until(lambda: marker.exists() and marker.read_text(), GONE_WITHIN)
    assert recorded == [pid] and marker.read_text() == str(pid)  # exec kept the pid the record holds
    psutil.wait_procs([psutil.Process(pid)], timeout=GONE_WITHIN)


# -- interrupting CreateEndpoint at fixed points --------------------------------


@pytest.fixture
def sm(tmp_path: Path) -> Iterator[LocalSageMaker]:
    service = LocalSageMaker(LocalHome(tmp_path / "home"))
    model_dir, code_dir = tmp_path / "model", tmp_path / "code"
    model_dir.mkdir()
    code_dir.mkdir()
    (model_dir / "model.txt").write_text("m")
    (code_dir / "model.py").write_text(SLOW_MODEL)
    create_folder_model(service, "ep", model_dir, code_dir, "model.py")
    yield service
    roll_back(service)
    kill_all(processes_of(service.home.root))  # what a failed test left


def roll_back(sm: LocalSageMaker) -> None:
    """What `smtrain deploy` does on Ctrl-C: delete what it created, whatever is left of it."""
    for delete, params in ((sm.delete_endpoint, {"EndpointName": "ep"}),
                           (sm.delete_endpoint_config, {"EndpointConfigName": "ep"}),
                           (sm.delete_model, {"ModelName": "ep"})):
        with contextlib.suppress(ClientError):
            delete(**params)  # type: ignore[operator]


def interrupt_popen(real: Any) -> Callable[..., Any]:
    def popen(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)  # the child exists, its pid is known to nobody
        raise KeyboardInterrupt

    return popen


def interrupt_record(after: bool) -> Callable[..., int]:
    real = processes.spawn_detached

    def spawn(argv: Any, *, record: Callable[[int], object], **kwargs: Any) -> int:
        def interrupted(pid: int) -> None:
            if after:
                record(pid)  # kept, but Ctrl-C before the handover
            raise KeyboardInterrupt

        return real(argv, record=interrupted, **kwargs)

    return spawn


@pytest.mark.parametrize("point", ["in-popen", "before-record", "after-record", "after-create"])
def test_ctrl_c_at_any_point_of_create_endpoint_leaves_no_process(
    sm: LocalSageMaker, monkeypatch: pytest.MonkeyPatch, point: str,
) -> None:
    if point == "in-popen":
        monkeypatch.setattr(processes.subprocess, "Popen", interrupt_popen(subprocess.Popen))
    elif point in ("before-record", "after-record"):
        monkeypatch.setattr(processes, "spawn_detached", interrupt_record(after=point == "after-record"))
    try:
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="ep")
    except KeyboardInterrupt:
        pass
    else:
        assert point == "after-create"
    monkeypatch.undo()
    roll_back(sm)
    assert wait_until_gone(sm.home.root) == []
    assert sm.db.get("endpoint", "ep") is None and sm.db.list("endpoint-config") == []


def test_an_endpoint_record_always_names_a_live_or_no_server(sm: LocalSageMaker,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted after its record was kept, the endpoint is consistent: its recorded server is not
    running (the handover never came), so describing it fails it instead of leaving it Creating."""
    monkeypatch.setattr(processes, "spawn_detached", interrupt_record(after=True))
    with pytest.raises(KeyboardInterrupt):
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="ep")
    monkeypatch.undo()
    recorded = sm.db.get("endpoint", "ep")["_local"]["current"]
    assert wait_until(lambda: not processes.is_alive(recorded["pid"]), GONE_WITHIN)
    assert wait_until(lambda: sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] != "Creating", GONE_WITHIN)
    assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Failed"


# -- interrupting the real CLI at stages of a deploy ----------------------------


def stages(home: Path) -> dict[str, Callable[[], bool]]:
    db = LocalHome(home).state()

    def endpoint() -> dict[str, Any]:
        return db.get("endpoint", "slow-ep") or {"_local": {}}

    return {
        "model recorded": lambda: db.get("model", "slow-ep") is not None,
        "endpoint recorded": lambda: db.get("endpoint", "slow-ep") is not None,
        "server log opened": lambda: (home / "endpoints" / "slow-ep" / "server.log").exists(),
        "keeper recorded": lambda: bool(endpoint()["_local"].get("current")),
        "server running": lambda: any("serving.container" in processes.command_line(p) for p in processes_of(home)),
    }


def test_ctrl_c_at_each_stage_of_deploy_leaves_nothing(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "slow").mkdir(parents=True)
    (project / "slow" / "model.py").write_text(SLOW_MODEL)
    home = project / ".smtrain"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    cli = Cli(project, {**env, "SMTRAIN_HOME": str(home)})
    try:
        fit = cli("fit", "--entry-point", "model.py", "--source-dir", "slow", "--channel", "train=slow",
                  "--job-name", "slow-model")
        assert fit.code == 0, fit.err
        for stage, reached in stages(home).items():
            code, err = interrupt_when([SMTRAIN, "deploy", "slow-model", "--endpoint-name", "slow-ep"], cwd=project,
                                       env=cli.env, ready=reached, timeout=120)
            assert code == 130 and "Traceback" not in err, f"{stage}: {err}"
            assert "still there" not in err, f"{stage}: {err}"
            assert wait_until_gone(home) == [], f"{stage}: processes left"
            db = LocalHome(home).state()
            for kind in ("endpoint", "endpoint-config", "model"):
                assert db.get(kind, "slow-ep") is None, f"{stage}: {kind} slow-ep left"
    finally:
        cli("teardown", "--all")
        kill_all(processes_of(home))

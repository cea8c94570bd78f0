"""Ctrl-C during `smtrain pipeline run --local` stops the training job, as stopping an execution does, records
the execution as ABORTED with its history, and rolls back what it created."""

from __future__ import annotations

from pathlib import Path

from smtrain.backends.local.jobs.processes import is_alive
from smtrain.backends.local.service import LocalSageMaker
from smtrain.backends.local.store.home import LocalHome
from tests.e2e.conftest import SMTRAIN, Cli, cli, workdir  # noqa: F401  (fixtures)
from tests.e2e.test_cli_local import SLEEPER
from tests.helpers import interrupt_when, wait_until
from tests.reliability.test_deploy_interrupt import wait_until_gone


def test_ctrl_c_stops_the_pipelines_training_job(cli: Cli, workdir: Path) -> None:  # noqa: F811
    (workdir / "slow").mkdir()
    (workdir / "slow" / "train.py").write_text(SLEEPER)
    pids_file = workdir / "pids.txt"
    code, err = interrupt_when(
        [SMTRAIN, "pipeline", "run", "--local", "--name", "slow", "--entry-point", "train.py", "--source-dir", "slow",
         "--channel", "train=slow", "--hp", f"out={pids_file}", "--execution-name", "x"],
        cwd=workdir, env=cli.env, ready=pids_file.exists)
    assert code == 130 and "aborted" in err and "Traceback" not in err
    pids = [int(pid) for pid in pids_file.read_text().split()]  # the script's and its child's
    assert wait_until(lambda: not any(is_alive(pid) for pid in pids), 10), [p for p in pids if is_alive(p)]
    jobs = cli("ls", "--json").json_lines()
    assert [(j["name"], j["status"]) for j in jobs] == [("slow-x-train-0", "Stopped")]
    assert "execution x: ABORTED" in err and "nothing to roll back" in err
    record = cli("pipeline", "status", "--name", "slow", "x", "--json").json()["execution"]
    assert (record["status"], record["states"]["Train"]) == ("ABORTED", "aborted")
    assert [e["kind"] for e in record["history"]][-2:] == ["Entered", "Aborted"]


def slow_serving(marker: Path) -> str:
    """Trains at once; its model server starts loading (writes ``marker``) and never finishes, so the endpoint
    stays Creating and the pipeline waits for it."""
    return f"""
import os
import time

if __name__ == "__main__":
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("m")


def model_fn(model_dir):
    open({str(marker)!r}, "w").write("loading")
    time.sleep(120)
"""


def test_ctrl_c_during_the_endpoint_wait_records_aborted_and_rolls_back(cli: Cli, workdir: Path) -> None:  # noqa: F811
    marker = workdir / "loading"
    (workdir / "slow").mkdir()
    (workdir / "slow" / "serve.py").write_text(slow_serving(marker))
    home = Path(cli.env["SMTRAIN_HOME"])
    code, err = interrupt_when(
        [SMTRAIN, "pipeline", "run", "--local", "--name", "slow", "--entry-point", "serve.py", "--source-dir", "slow",
         "--channel", "train=slow", "--execution-name", "x", "--approve"],
        cwd=workdir, env=cli.env, ready=marker.exists, timeout=300)
    assert code == 130 and "Traceback" not in err, err
    assert "execution x: ABORTED; rolling back what it created" in err
    for removed in ("endpoint slow", "endpoint config slow-x-config", "model slow-x-model", "model package "):
        assert f"rolled back: removed {removed}" in err, err
    assert "left behind" not in err
    assert "kept: training job slow-x-train-0" in err

    status = cli("pipeline", "status", "--name", "slow", "x", "--json")
    assert status.code == 0, status.err
    record = status.json()["execution"]
    assert record["status"] == "ABORTED" and record["error"] == "States.Aborted"
    assert record["history"][-1]["kind"] == "Aborted"
    assert {"Create endpoint", "Wait for endpoint"} <= set(record["states"])
    assert wait_until_gone(home) == []  # no model server, keeper or gateway outlives the rollback
    client = LocalSageMaker(LocalHome(home))
    assert client.list_endpoints()["Endpoints"] == [] and client.list_models()["Models"] == []
    assert client.list_endpoint_configs()["EndpointConfigs"] == []
    assert client.list_model_packages(ModelPackageGroupName="slow")["ModelPackageSummaryList"] == []

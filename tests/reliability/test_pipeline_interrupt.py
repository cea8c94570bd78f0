"""Ctrl-C during `smtrain pipeline run --local` stops the training job, as stopping an execution does."""

from __future__ import annotations

from pathlib import Path

from smtrain.backends.local.jobs.processes import is_alive
from tests.e2e.conftest import SMTRAIN, Cli, cli, workdir  # noqa: F401  (fixtures)
from tests.e2e.test_cli_local import SLEEPER
from tests.helpers import interrupt_when, wait_until


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

"""Ctrl-C during `smtrain pipeline run --local` stops the training job, as stopping an execution does."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.e2e.conftest import SMTRAIN, Cli, cli, workdir  # noqa: F401  (fixtures)
from tests.e2e.test_cli_local import SLEEPER


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"


def test_ctrl_c_stops_the_pipelines_training_job(cli: Cli, workdir: Path) -> None:  # noqa: F811
    (workdir / "slow").mkdir()
    (workdir / "slow" / "train.py").write_text(SLEEPER)
    pids_file = workdir / "pids.txt"
    process = subprocess.Popen(
        [SMTRAIN, "pipeline", "run", "--local", "--name", "slow", "--entry-point", "train.py", "--source-dir", "slow",
         "--channel", "train=slow", "--hp", f"out={pids_file}", "--execution-name", "x"],
        cwd=workdir, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not pids_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        script_pid, child_pid = map(int, pids_file.read_text().split())
        process.send_signal(signal.SIGINT)  # what the terminal sends on Ctrl-C
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130 and "aborted" in err and "Traceback" not in err
    deadline = time.monotonic() + 10
    while (alive(script_pid) or alive(child_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(script_pid) and not alive(child_pid)
    jobs = cli("ls", "--json").json_lines()
    assert [(j["name"], j["status"]) for j in jobs] == [("slow-x-train-0", "Stopped")]

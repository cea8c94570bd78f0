"""On a terminal, a wait shows a spinner with the status and elapsed time; log lines stay whole."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import SMTRAIN, Cli

pytestmark = pytest.mark.e2e


def run_on_a_terminal(cli: Cli, *args: str, env: dict[str, str], timeout: float = 120) -> str:
    """What a terminal shows for ``smtrain ARGS`` (stdout and stderr both on one pseudo-terminal)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([SMTRAIN, *args], cwd=cli.cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=terminal)
    os.close(terminal)
    shown = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: every writer has exited
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=max(1.0, deadline - time.monotonic())) == 0, shown
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    return shown.decode("utf-8", "replace")


def silent_job(cli: Cli) -> None:
    (cli.cwd / "slow").mkdir()
    (cli.cwd / "slow" / "train.py").write_text("import time\nprint('begin')\ntime.sleep(2)\nprint('end')\n")


def test_a_silent_job_shows_a_spinner_with_status_and_elapsed_time(cli: Cli) -> None:
    silent_job(cli)
    env = {k: v for k, v in cli.env.items() if k != "NO_COLOR"}
    shown = run_on_a_terminal(cli, "fit", "--entry-point", "train.py", "--source-dir", "slow", env=env)
    assert "training job train-" in shown and ": Training (0:0" in shown
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown).replace("\r", "\n").splitlines()
    assert "begin" in lines and "end" in lines, shown  # printed above the spinner, never run into it
    assert "Completed - job completed" in lines


def test_no_spinner_with_no_color(cli: Cli) -> None:
    silent_job(cli)
    shown = run_on_a_terminal(cli, "fit", "--entry-point", "train.py", "--source-dir", "slow",
                              env=dict(cli.env, NO_COLOR="1"))
    assert "Completed - job completed" in shown and "(0:0" not in shown


def test_no_spinner_off_a_terminal(cli: Cli, workdir: Path) -> None:
    silent_job(cli)
    result = cli("fit", "--entry-point", "train.py", "--source-dir", "slow")
    assert result.code == 0, result.err
    assert "(0:0" not in result.err and "\r" not in result.err

"""Ctrl-C during `smtrain deploy` rolls back what the deploy created, and leaves no server behind."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import SMTRAIN, Cli
from tests.helpers import interrupt_when, wait_until

pytestmark = pytest.mark.e2e

SLOW_MODEL = """
import os
import sys
import time

if __name__ == "__main__":
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("m")


def model_fn(model_dir):
    time.sleep(120)  # the endpoint stays Creating until Ctrl-C
"""


def servers_of(home: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if str(home) in " ".join(process.cmdline()) and "smtrain.backends.local" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:
            continue
    return found


def test_ctrl_c_during_deploy_rolls_back(cli: Cli, workdir: Path) -> None:
    (workdir / "slow").mkdir()
    (workdir / "slow" / "model.py").write_text(SLOW_MODEL)
    fit = cli("fit", "--entry-point", "model.py", "--source-dir", "slow", "--channel", "train=slow",
              "--job-name", "slow-model")
    assert fit.code == 0, fit.err
    server_log = Path(cli.env["SMTRAIN_HOME"]) / "endpoints" / "slow-ep" / "server.log"
    code, err = interrupt_when([SMTRAIN, "deploy", "slow-model", "--endpoint-name", "slow-ep"], cwd=workdir,
                               env=cli.env, ready=server_log.exists)
    assert code == 130, err
    assert "rolling back the deploy of endpoint slow-ep" in err and "Traceback" not in err
    for removed in ("Endpoint slow-ep", "EndpointConfig slow-ep", "Model slow-ep"):
        assert f"removed {removed}" in err
    assert all(run["endpoints"] == [] for run in cli("ls", "--json").json_lines())
    # the rollback stopped every server before the CLI exited (none runs unrecorded: see
    # smtrain.backends.local.jobs.handover); this bound only covers psutil seeing them gone
    assert wait_until(lambda: not servers_of(Path(cli.env["SMTRAIN_HOME"])), 15)

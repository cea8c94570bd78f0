"""A job's whole process tree ends with the job, however it ends, even processes that called setsid.

The training script starts two detached processes: one with ``start_new_session``
(its own session, in no process group the supervisor knows), and one whose
parent exits at once (an orphan, re-parented to the supervisor, a subreaper on
Linux). After the job ends, both must be gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO
from tests.e2e.conftest import SMTRAIN, Cli

DETACHING_SCRIPT = """
import argparse, os, subprocess, sys, time
parser = argparse.ArgumentParser()
parser.add_argument("--out")
parser.add_argument("--then")
args, _ = parser.parse_known_args()
detached = subprocess.Popen(["sleep", "300"], start_new_session=True)
middle = subprocess.run(
    [sys.executable, "-c",
     "import subprocess; print(subprocess.Popen(['sleep', '301'], start_new_session=True, "
     "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"],
    capture_output=True, text=True, check=True)
with open(args.out + ".tmp", "w") as handle:
    handle.write(f"{detached.pid} {middle.stdout.strip()}")
os.replace(args.out + ".tmp", args.out)
if args.then == "fail":
    sys.exit(3)
if args.then == "sleep":
    time.sleep(300)
"""


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "train.py").write_text(DETACHING_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env["SMTRAIN_HOME"] = str(project / ".smtrain")
    env["PYTHONPATH"] = str(REPO)
    yield Cli(project, env)
    for process in psutil.process_iter(["cmdline"]):  # a supervisor of this test left by a failure
        if str(project) in " ".join(process.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                process.kill()


def fit_command(cli: Cli, pids: Path, then: str, *extra: str) -> list[str]:
    return [SMTRAIN, "fit", "--entry-point", "train.py", "--source-dir", "src", "--channel", "train=src",
            "--job-name", "tree", "--hp", f"out={pids}", "--hp", f"then={then}", *extra]


def living(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(condition())  # type: ignore[operator]


def detached_pids(pids: Path) -> list[int]:
    assert wait_for(pids.exists, 60), "the script never wrote its pids"
    return [int(p) for p in pids.read_text().split()]


def assert_all_gone(pids: list[int]) -> None:
    try:
        assert wait_for(lambda: not any(living(pid) for pid in pids), 15), [p for p in pids if living(p)]
    finally:
        for pid in pids:  # never leave a process behind, even when the test fails
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if living(pid):
                    os.kill(pid, signal.SIGKILL)


def status(cli: Cli) -> str:
    jobs = cli("ls", "--json").json_lines()
    return str(jobs[0]["status"])


@pytest.mark.parametrize(("then", "code", "expected"), [("exit", 0, "Completed"), ("fail", 1, "Failed")])
def test_detached_processes_end_when_the_script_ends(cli: Cli, tmp_path: Path, then: str, code: int,
                                                      expected: str) -> None:
    pids_file = tmp_path / "pids.txt"
    done = subprocess.run(fit_command(cli, pids_file, then), cwd=cli.cwd, env=cli.env, capture_output=True,
                          text=True, timeout=180)
    pids = detached_pids(pids_file)
    assert done.returncode == code, done.stderr
    assert_all_gone(pids)
    assert status(cli) == expected


def test_detached_processes_end_when_the_job_is_stopped(cli: Cli, tmp_path: Path) -> None:
    pids_file = tmp_path / "pids.txt"
    submitted = subprocess.run(fit_command(cli, pids_file, "sleep", "--no-wait"), cwd=cli.cwd, env=cli.env,
                               capture_output=True, text=True, timeout=180)
    assert submitted.returncode == 0, submitted.stderr
    pids = detached_pids(pids_file)
    try:
        stopped = cli("stop", "tree", timeout=60)
        assert stopped.code == 0, stopped.err
        assert wait_for(lambda: status(cli) == "Stopped", 60)
    finally:
        assert_all_gone(pids)


def test_detached_processes_end_when_the_job_exceeds_its_max_runtime(cli: Cli, tmp_path: Path) -> None:
    pids_file = tmp_path / "pids.txt"
    env = dict(cli.env, SMTRAIN_MAX_RUNTIME_SECONDS="3")
    done = subprocess.run(fit_command(cli, pids_file, "sleep"), cwd=cli.cwd, env=env, capture_output=True,
                          text=True, timeout=180)
    pids = detached_pids(pids_file)
    assert_all_gone(pids)
    [job] = cli("ls", "--json").json_lines()
    assert job["status"] == "Stopped", done.stderr
    import smtrain

    description = smtrain.Session(home=cli.env["SMTRAIN_HOME"], quiet=True).job(job["name"]).description
    assert description["SecondaryStatus"] == "MaxRuntimeExceeded"


def test_detached_processes_end_when_the_supervisor_is_killed(cli: Cli, tmp_path: Path) -> None:
    """The supervisor dies (SIGKILL, OOM killer): the next command that looks at the job ends its processes."""
    import json

    pids_file = tmp_path / "pids.txt"
    submitted = subprocess.run(fit_command(cli, pids_file, "sleep", "--no-wait"), cwd=cli.cwd, env=cli.env,
                               capture_output=True, text=True, timeout=180)
    assert submitted.returncode == 0, submitted.stderr
    pids = detached_pids(pids_file)
    record = json.loads((Path(cli.env["SMTRAIN_HOME"]) / "jobs" / "tree" / "record.json").read_text())
    supervisor = int(record["body"]["_local"]["supervisor_pid"])
    try:
        os.kill(supervisor, signal.SIGKILL)
        assert wait_for(lambda: not living(supervisor), 10)
        assert status(cli) == "Failed"
    finally:
        assert_all_gone(pids)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreapers are a Linux feature")
def test_the_supervisor_is_a_child_subreaper() -> None:
    """An orphan re-parents to a subreaper, not to init."""
    script = (
        "import subprocess, sys, time\n"
        "from smtrain.backends.local.jobs.processes import become_subreaper, end_descendants\n"
        "assert become_subreaper()\n"
        "subprocess.run([sys.executable, '-c', \"import subprocess; "
        "subprocess.Popen(['sleep', '300'], start_new_session=True)\"], check=True)\n"
        "import psutil, os\n"
        "orphans = psutil.Process().children()\n"
        "print(len(orphans), end_descendants(grace_seconds=1))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]

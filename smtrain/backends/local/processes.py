"""Detached processes: started in their own session, stopped as a group.

Jobs and endpoints outlive the CLI that started them, so each runs in a new
session (its own process group). Stopping one signals the whole group, so a
script's own children (joblib workers, say) go with it and nothing is orphaned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path


def spawn_detached(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
) -> int:
    """Start ``argv`` in a new session with stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The child outlives us on purpose, so its Popen is dropped while it runs;
    # Popen.__del__ reports that as a ResourceWarning, which is expected here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
            process = subprocess.Popen(
                list(argv),
                stdin=devnull,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                pass_fds=tuple(pass_fds),
                start_new_session=True,
            )
        pid = process.pid
        del process
    return pid


def python_module_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def is_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rsplit(")", 1)[-1].split()[0] == "Z"


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(pgid: int, *, grace_seconds: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after the grace period."""
    if pgid <= 0:
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        _reap(pgid)
        if not group_alive(pgid) or _only_zombies(pgid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    _reap(pgid)


def _reap(pgid: int) -> None:
    """Collect our own exited children so they do not linger as zombies."""
    try:
        while True:
            pid, _ = os.waitpid(-pgid, os.WNOHANG)
            if pid == 0:
                return
    except ChildProcessError:
        return


def _only_zombies(pgid: int) -> bool:
    members = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _pgid_of(int(p.name)) == pgid]
    return all(_is_zombie(int(p.name)) for p in members)


def _pgid_of(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:
        return -1

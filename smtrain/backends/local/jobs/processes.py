"""Detached processes: started in their own session, stopped as a group.

Jobs and endpoints outlive the CLI that started them, so each runs in a new
session (its own process group). Each runs only once its starter recorded its
pid (:mod:`.handover`), so a Ctrl-C at any moment leaves no process that no
record names. Stopping one signals the whole group, so a script's own
children (joblib workers, say) go with it and nothing is orphaned.
Processes are inspected with psutil (no ``/proc`` parsing), so this also works
on macOS; a group is found by its members, so it is stopped even after its
leader died.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from smtrain.backends.local.jobs.handover import GO as HANDOVER_GO
from smtrain.backends.local.jobs.handover import HANDOVER_FD_ENVIRON, HANDOVER_MODULE
from smtrain.files.private import make_private_dirs, open_private


def spawn_detached(
    argv: Sequence[str],
    *,
    log_path: Path,
    record: Callable[[int], object],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
) -> int:
    """Start ``argv`` in a new session with stdout and stderr appended to ``log_path``, call
    ``record(pid)`` to note it where a rollback will look, and only then let it run; its pid.

    Until ``record`` returns, the child waits in :mod:`.handover`. If ``record`` raises, Ctrl-C
    interrupts this process, or it dies first, the child's pipe closes unwritten and it exits
    without running ``argv``: a detached process always has a record, or is gone."""
    make_private_dirs(log_path.parent)
    wait_fd, go_fd = os.pipe()
    try:
        child_env = {**(os.environ if env is None else env), HANDOVER_FD_ENVIRON: str(wait_fd)}
        # The child outlives us on purpose, so its Popen is dropped while it runs;
        # Popen.__del__ reports that as a ResourceWarning, which is expected here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            with open_private(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
                process = subprocess.Popen(
                    python_module_argv(HANDOVER_MODULE, "--", *argv),
                    stdin=devnull,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=child_env,
                    cwd=cwd,
                    pass_fds=(*pass_fds, wait_fd),
                    start_new_session=True,
                )
            pid = process.pid
            del process
        record(pid)
        with contextlib.suppress(BrokenPipeError):  # it died meanwhile: whoever reads the record sees that
            os.write(go_fd, HANDOVER_GO)
    finally:
        os.close(wait_fd)
        os.close(go_fd)
    return pid


def python_module_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def is_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    import psutil

    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _is_zombie(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def group_members(pgid: int) -> list[Any]:
    """The live processes (``psutil.Process``) of process group ``pgid``, zombies left out."""
    import psutil

    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (OSError, psutil.Error):
            continue
    return members


def group_alive(pgid: int) -> bool:
    return pgid > 0 and bool(group_members(pgid))


def command_line(process: Any) -> str:
    import psutil

    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def stop_group(pgid: int, *, grace_seconds: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after the grace period.

    Members are found with psutil, so a group whose leader is gone (its
    orphaned workers) is stopped too, and our own exited children are reaped.
    """
    import psutil

    if pgid <= 0:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        members = group_members(pgid)
        if not members:
            break
        psutil.wait_procs(members, timeout=min(0.1, max(0.0, deadline - time.monotonic())))
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        psutil.wait_procs(group_members(pgid), timeout=2)
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


# -- whole process trees (psutil, so it works wherever psutil does) ----------

PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
TREE_DEADLINE_SECONDS = 30.0


def become_subreaper() -> bool:
    """Linux: descendants orphaned by their parent, even ones that called ``setsid``,
    re-parent to this process instead of init, so ``end_descendants`` still finds them.

    macOS has no subreaper: there a job ends its process group and every
    descendant psutil can still see from here (best effort: a process whose
    parent died before the job ended re-parents to launchd and escapes)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def end_descendants(*, grace_seconds: float = 2.0, deadline_seconds: float = TREE_DEADLINE_SECONDS) -> int:
    """SIGTERM every descendant of this process, SIGKILL those left after ``grace_seconds``, and repeat
    until none remain (a dying process may have started another). Returns how many were ended.

    Reaps this process's exited children too, so call it only when no other thread waits on a child."""
    import psutil

    me = psutil.Process()
    ended: set[int] = set()
    deadline = time.monotonic() + deadline_seconds
    while True:
        _reap_any()
        living = [p for p in _descendants(me) if not _is_zombie(p.pid)]
        if not living or time.monotonic() > deadline:
            return len(ended)
        ended.update(p.pid for p in living)
        _signal_all(living, signal.SIGTERM)
        _, alive = psutil.wait_procs(living, timeout=grace_seconds)
        _signal_all(alive, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=1.0)


def kill_tree(pid: int) -> list[int]:
    """SIGKILL ``pid`` and every descendant it has now; the pids that were signalled."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return []
    members = [root, *_descendants(root)]
    _signal_all(members, signal.SIGKILL)
    psutil.wait_procs(members, timeout=1.0)
    return [p.pid for p in members]


def _descendants(process: Any) -> list[Any]:
    import psutil

    try:
        return list(process.children(recursive=True))
    except psutil.Error:
        return []


def _signal_all(processes: Sequence[Any], signum: int) -> None:
    import psutil

    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signum)


def _reap_any() -> None:
    """Collect every exited child of this process (orphans re-parented to a subreaper among them)."""
    try:
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
    except ChildProcessError:
        return


# Every process of a job carries this variable (inherited through fork, exec and setsid), so the
# job's processes can still be found after its supervisor died and they re-parented to init.
JOB_TOKEN_VARIABLE = "SMTRAIN_JOB_TOKEN"


def kill_tagged(token: str) -> list[int]:
    """SIGKILL every process of ours whose environment carries ``JOB_TOKEN_VARIABLE=token``."""
    import psutil

    if not token:
        return []
    tagged = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.pid != os.getpid() and process.environ().get(JOB_TOKEN_VARIABLE) == token:
                tagged.append(process)
    _signal_all(tagged, signal.SIGKILL)
    psutil.wait_procs(tagged, timeout=1.0)
    return [p.pid for p in tagged]

"""Keeps one server running on one listening socket, restarting it when it dies.

    python -m smtrain.backends.local.serving.keeper --fd N -- python -m MODULE ... --fd N

The keeper holds the listening socket (``--fd``) for the server's whole life
and starts the server (a gunicorn master) as its child with that socket. When
the master dies (killed, crashed), the keeper starts it again at once, on the
same socket: the port never closes, and every address handed out stays valid.
A master that keeps dying is restarted with a growing delay (at most
:data:`MAX_DELAY` seconds). The master exits when the keeper dies (see
:func:`smtrain.backends.local.serving.front.run_gunicorn`).

No gap while the new master starts (a model server's imports
sklearn and loads the model before forking its workers, seconds under load): on Linux the keeper is a
child subreaper, so the dead master's workers become its children, and they
keep serving on the shared socket until a new worker reports itself ready
(one byte on the pipe named by :data:`READY_FD_ENVIRON`; see
:mod:`.front`), or :data:`ORPHAN_SECONDS` passed. Then the keeper stops
them (SIGTERM: they finish what they hold and exit). Where there is no
subreaper (macOS), the workers exit when their master dies.

SIGTERM (or SIGINT, SIGHUP) stops the keeper: the master is told to stop
gracefully, and the keeper exits after it. The keeper sleeps on the
master's exit (a pidfd, on Linux), its workers' ready pipe and its own stop
signal, not on a timer: it polls only while a dead master's workers are
still to be reaped, or where there is no pidfd.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from types import FrameType

KEEPER_MODULE = "smtrain.backends.local.serving.keeper"
KEEPER_PID_ENVIRON = "SMTRAIN_KEEPER_PID"  # tells the master to exit with its keeper
READY_FD_ENVIRON = "SMTRAIN_READY_FD"  # a worker writes one byte there once it serves
ORPHAN_SECONDS = 60.0  # at most this long a dead master's workers serve on, waiting for new ones
REAP_SECONDS = 60.0  # stopped workers finish their requests (gunicorn's graceful timeout) and are reaped
HEALTHY_SECONDS = 10.0  # a master that ran this long before dying is restarted at once
MAX_DELAY = 10.0
POLL_SECONDS = 0.05  # while reaping adopted workers, or with no pidfd to wait on


class Keeper:
    def __init__(self, argv: list[str], fd: int) -> None:
        self.argv, self.fd = argv, fd
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.wake_read, self.wake_write = os.pipe()  # a stop signal ends any wait at once
        os.set_blocking(self.wake_write, False)

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            os.write(self.wake_write, b"x")
        if self.child is not None and self.child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.child.send_signal(signal.SIGTERM)

    def run(self) -> int:
        from smtrain.backends.local.jobs.processes import become_subreaper

        become_subreaper()
        self.ready_read, ready_write = os.pipe()
        os.set_blocking(self.ready_read, False)
        env = {**os.environ, KEEPER_PID_ENVIRON: str(os.getpid()), READY_FD_ENVIRON: str(ready_write)}
        failures = 0
        while not self.stopping:
            started = time.monotonic()
            self.child = subprocess.Popen(self.argv, pass_fds=[self.fd, ready_write], env=env)
            if self.stopping:  # a signal came while it started
                self.child.send_signal(signal.SIGTERM)
            code = self.watch(self.child)
            if self.stopping:
                self.stop_orphans()
                return 0
            failures = 0 if time.monotonic() - started > HEALTHY_SECONDS else failures + 1
            delay = 0.0 if failures <= 1 else min(MAX_DELAY, 0.25 * 2 ** (failures - 2))
            print(f"smtrain keeper: the server exited with code {code}; restarting it in {delay:.2f} s",
                  file=sys.stderr, flush=True)
            self.orphans_since = self.orphans_since or time.monotonic()
            if delay and not self.stopping:
                select.select([self.wake_read], [], [], delay)
        self.stop_orphans()
        return 0

    orphans_since: float | None = None
    reap_until = 0.0

    def watch(self, child: subprocess.Popen[bytes]) -> int:
        """Wait for ``child`` to exit, reaping adopted workers and stopping them once a new worker is ready."""
        exited = _pidfd(child.pid)
        try:
            while (code := child.poll()) is None:
                ready = self.read_ready()
                if self.orphans_since is not None and (
                        ready or time.monotonic() - self.orphans_since > ORPHAN_SECONDS):
                    self.stop_orphans()
                reaping = self.orphans_since is not None or time.monotonic() < self.reap_until
                if reaping:
                    self.reap_orphans()  # only then: listing children scans every process
                events = [self.ready_read] + ([exited] if exited is not None else [])
                if not self.stopping:  # once stopping, the pipe stays readable; the master's exit ends the wait
                    events.append(self.wake_read)
                select.select(events, [], [], POLL_SECONDS if reaping or exited is None else None)
        finally:
            if exited is not None:
                os.close(exited)
        return code

    def read_ready(self) -> bool:
        try:
            pids = os.read(self.ready_read, 4096).split()
        except BlockingIOError:
            return False
        return any(self.is_new_worker(int(pid)) for pid in pids if pid.isdigit())

    def is_new_worker(self, pid: int) -> bool:
        """Whether ``pid`` (a worker that reported itself ready) is the current master's: a dead
        master's worker may finish loading after its master died."""
        import psutil

        try:
            return self.child is not None and psutil.Process(pid).ppid() == self.child.pid
        except psutil.Error:
            return False

    def orphans(self) -> list[int]:
        """Workers of a dead master, adopted by this keeper (its children besides the master)."""
        import psutil

        master = self.child.pid if self.child is not None else 0
        return [p.pid for p in psutil.Process().children() if p.pid != master]

    def stop_orphans(self) -> None:
        self.orphans_since = None
        self.reap_until = time.monotonic() + REAP_SECONDS
        for pid in self.orphans():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def reap_orphans(self) -> None:
        for pid in self.orphans():
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def _pidfd(pid: int) -> int | None:
    """A descriptor that turns readable when ``pid`` exits (Linux 5.3+), or None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {KEEPER_MODULE}")
    parser.add_argument("--fd", type=int, required=True, help="the listening socket to hold and pass on")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the server's command line")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the server's command after --")
    keeper = Keeper(command, args.fd)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, keeper.stop)
    sys.exit(keeper.run())


if __name__ == "__main__":
    main()

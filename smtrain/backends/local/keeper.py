"""Keeps one server running on one listening socket, restarting it when it dies.

    python -m smtrain.backends.local.keeper --fd N -- python -m MODULE ... --fd N

The keeper holds the listening socket (``--fd``) for the server's whole life
and starts the server (a gunicorn master) as its child with that socket. When
the master dies (killed, crashed), the keeper starts it again at once, on the
same socket: the port never closes, so clients that connect meanwhile wait in
the socket's backlog and are served by the new master, and every address
handed out stays valid. A master that keeps dying is restarted with a growing
delay (at most :data:`MAX_DELAY` seconds). The master's workers exit when
their master dies (they watch their parent), and the master exits when the
keeper dies (see :func:`smtrain.backends.local.container.run_gunicorn`).

SIGTERM (or SIGINT, SIGHUP) stops the keeper: the master is told to stop
gracefully, and the keeper exits after it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType

KEEPER_MODULE = "smtrain.backends.local.keeper"
KEEPER_PID_ENVIRON = "SMTRAIN_KEEPER_PID"  # tells the master to exit with its keeper
HEALTHY_SECONDS = 10.0  # a master that ran this long before dying is restarted at once
MAX_DELAY = 10.0


class Keeper:
    def __init__(self, argv: list[str], fd: int) -> None:
        self.argv, self.fd = argv, fd
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.child.send_signal(signal.SIGTERM)

    def run(self) -> int:
        failures = 0
        while not self.stopping:
            started = time.monotonic()
            self.child = subprocess.Popen(self.argv, pass_fds=[self.fd],
                                          env={**os.environ, KEEPER_PID_ENVIRON: str(os.getpid())})
            if self.stopping:  # a signal came while it started
                self.child.send_signal(signal.SIGTERM)
            code = self.child.wait()
            if self.stopping:
                return 0
            failures = 0 if time.monotonic() - started > HEALTHY_SECONDS else failures + 1
            delay = 0.0 if failures <= 1 else min(MAX_DELAY, 0.25 * 2 ** (failures - 2))
            print(f"smtrain keeper: the server exited with code {code}; restarting it in {delay:.2f} s",
                  file=sys.stderr, flush=True)
            deadline = time.monotonic() + delay
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(0.05)
        return 0


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

"""Run a job's N hosts at once and exit as the job should: ``python -I fan_out.py SPEC``.

``SPEC`` (written by :func:`smtrain.backends.local.jobs.hosts.job_command`) lists each host's
command, working folder and the environment that differs from algo-1's (this process's own).
All hosts stay in this process's group, so the supervisor's stop (SIGTERM to the group, then
SIGKILL after the grace period) reaches every one of them directly.

- algo-1 writes to this process's stdout: the job's output, its metrics, its failure tail;
- every other host's lines go to the job log, prefixed ``[algo-i] ``;
- the first host to fail fails the job (SageMaker fails a job when any instance fails): its
  exit code is this process's, its last lines are printed (so they reach ``FailureReason``), its
  ``output/failure`` becomes algo-1's if algo-1 wrote none, and the other hosts get SIGTERM.

Standard library only, run with ``python -I``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from typing import IO, Any

TAIL_LINES = 50
POLL_SECONDS = 0.05


class Host:
    def __init__(self, spec: dict[str, Any], log: IO[bytes] | None, lock: threading.Lock) -> None:
        self.name = str(spec["name"])
        self.failure = str(spec["failure"])
        env = {**os.environ, **spec["env"]}
        for name in spec.get("unset", []):
            env.pop(name, None)
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.process = subprocess.Popen(
            spec["argv"], cwd=spec["cwd"], env=env, stdin=subprocess.DEVNULL,
            stdout=None if log is None else subprocess.PIPE, stderr=None if log is None else subprocess.STDOUT)
        self.pump: threading.Thread | None = None
        if log is not None:
            self.pump = threading.Thread(target=self._copy, args=(log, lock), daemon=True)
            self.pump.start()

    def _copy(self, log: IO[bytes], lock: threading.Lock) -> None:
        assert self.process.stdout is not None
        prefix = f"[{self.name}] ".encode()
        for line in iter(self.process.stdout.readline, b""):
            self.tail.append(line.decode("utf-8", "replace").rstrip("\n"))
            with lock:
                log.write(prefix + line if line.endswith(b"\n") else prefix + line + b"\n")
                log.flush()


def exit_status(code: int) -> int:
    return 128 - code if code < 0 else code  # killed by a signal: the shell's 128 + N


def report(host: Host, code: int, first: Host) -> None:
    if host.pump is not None:
        host.pump.join(timeout=5)
    if host is not first:
        print(f"smtrain: {host.name} exited with code {code}; its last lines:", flush=True)
        print("\n".join(host.tail), flush=True)
        if os.path.isfile(host.failure) and not os.path.exists(first.failure):
            shutil.copyfile(host.failure, first.failure)


def run(hosts_spec: Sequence[dict[str, Any]], log_path: str) -> int:
    lock = threading.Lock()
    signal.signal(signal.SIGTERM, lambda *_: None)  # the hosts, in this group, got it too: wait for them
    with open(log_path, "ab") as log:
        hosts = [Host(spec, None if i == 0 else log, lock) for i, spec in enumerate(hosts_spec)]
        running, status = list(hosts), 0
        while running:
            for host in list(running):
                code = host.process.poll()
                if code is None:
                    continue
                running.remove(host)
                if code != 0 and status == 0:
                    status = exit_status(code)
                    report(host, code, hosts[0])
                    for other in running:
                        other.process.terminate()
            if running:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    running[0].process.wait(timeout=POLL_SECONDS)
        for host in hosts:
            if host.pump is not None:
                host.pump.join(timeout=5)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: fan_out.py SPEC", file=sys.stderr)
        return 2
    with open(args[0]) as handle:
        spec = json.load(handle)
    return run(spec["hosts"], spec["log"])


if __name__ == "__main__":
    sys.exit(main())

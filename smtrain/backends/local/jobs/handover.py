"""Runs a detached command only once the process that started it has recorded it.

    python -m smtrain.backends.local.jobs.handover -- COMMAND...

:func:`smtrain.backends.local.jobs.processes.spawn_detached` starts every job
supervisor, endpoint keeper and gateway through this wrapper. The wrapper
waits on the pipe named by :data:`HANDOVER_FD_ENVIRON` and becomes
``COMMAND`` (``exec``, same pid) once the starter wrote to it, i.e. once
the starter recorded the pid where a rollback or ``teardown`` finds it.
When the pipe closes unwritten (the starter was interrupted by Ctrl-C, failed
to record it, or died), the wrapper exits and nothing runs: no detached
process exists that no record points to.
"""

from __future__ import annotations

import os
import sys

HANDOVER_MODULE = "smtrain.backends.local.jobs.handover"
HANDOVER_FD_ENVIRON = "SMTRAIN_HANDOVER_FD"
GO = b"go"


def main(argv: list[str]) -> None:
    command = argv[1:] if argv[:1] == ["--"] else argv
    fd = int(os.environ.pop(HANDOVER_FD_ENVIRON, "-1"))
    if fd >= 0:
        with os.fdopen(fd, "rb") as pipe:
            handed_over = pipe.read(len(GO)) == GO  # blocks until the starter writes or closes it
        if not handed_over:
            print("smtrain: the command that started this process ended before recording it; exiting",
                  file=sys.stderr, flush=True)
            sys.exit(1)
    if not command:
        sys.exit("usage: python -m smtrain.backends.local.jobs.handover -- COMMAND...")
    os.umask(0o077)  # what a job, endpoint or the gateway writes under the home is owner-only, as the home is
    os.execve(command[0], command, dict(os.environ))


if __name__ == "__main__":
    main(sys.argv[1:])

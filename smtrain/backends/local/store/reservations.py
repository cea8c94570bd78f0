"""Name reservations: a row that holds a job's name (of any kind) while its submission uploads.

The row has the job's kind and name, so the state DB's primary key makes the
reservation atomic, and a few public fields so a reader that does not know
about reservations still sees a well-formed (starting) job. Its
``_local.reservation`` says which process holds it; a reservation whose
process is gone is stale and may be taken over.
"""

from __future__ import annotations

import os
from typing import Any

from smtrain.backends.local.jobs import job_state
from smtrain.planning.kinds import JobKind


def record(kind: JobKind, name: str, arn: str, token: str, **shown: Any) -> dict[str, Any]:
    """The reservation's row: a well-formed starting job (plus ``shown`` fields) that says who holds it."""
    now = job_state.now_iso()
    return {
        kind.name_key: name,
        kind.arn_key: arn,
        kind.status_key: "InProgress",
        **shown,
        "CreationTime": now,
        "LastModifiedTime": now,
        "_local": {"reservation": {"token": token, "pid": os.getpid(), "started": _started(os.getpid())}},
    }


def token(body: dict[str, Any]) -> str:
    """The reservation's token; "" when ``body`` is a real job."""
    return str(body.get("_local", {}).get("reservation", {}).get("token", ""))


def holder_alive(body: dict[str, Any]) -> bool:
    """Whether the process that made the reservation still runs (the same process, not a reused pid)."""
    holder = body.get("_local", {}).get("reservation", {})
    pid, started = int(holder.get("pid", 0)), holder.get("started")
    return bool(pid) and started is not None and _started(pid) == started


def _started(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None

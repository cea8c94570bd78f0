"""An error's cause as a person reads it.

A ``.sync`` Task whose job failed fails with ``States.TaskFailed`` and, as its cause, the job's whole
Describe output as JSON (as Step Functions does); the console says the job, its status and its
FailureReason instead. The execution's record keeps the cause as it is.
"""

from __future__ import annotations

import json
from typing import Any


def readable_cause(cause: str) -> str:
    """``<job name> <status>: <FailureReason>`` for a failed job's description; any other cause as it is."""
    try:
        description: Any = json.loads(cause)
    except ValueError:
        return cause
    if not isinstance(description, dict) or not description.get("FailureReason"):
        return cause
    name = next((str(v) for k, v in description.items() if k.endswith("JobName") and isinstance(v, str)), "job")
    status = next((str(v) for k, v in description.items() if k.endswith("JobStatus") and isinstance(v, str)), "")
    return f"{name}{' ' + status if status else ''}: {description['FailureReason']}"

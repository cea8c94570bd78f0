"""The one polling loop: ask a ``Describe*`` until its status is final.

Every wait goes through :func:`wait_for`: the plan's Wait steps that the CLI
and the Python API run (:func:`smtrain.execution.executor.wait_for_status` adds the
progress lines and the spinner), and tests, which inject ``sleep`` and
``clock`` so that no test waits for real. ``describe`` is any callable (a
backend call, a boto3 client method); errors it raises pass through unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from smtrain.core.errors import BackendError, JobFailedError


class WaitFailedError(JobFailedError):
    """A polled resource reached a failure status; ``description`` is the last ``Describe*`` answer."""

    def __init__(self, what: str, *, status: str, description: Mapping[str, Any], where: str = "",
                 hint: str = "") -> None:
        self.status = status
        self.description = dict(description)
        super().__init__(what, where=where, hint=hint)


def wait_for(
    describe: Callable[[], Mapping[str, Any]],
    status_key: str,
    success: Iterable[str],
    failure: Iterable[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    timeout: float | None = None,
    interval: float = 10.0,
    on_status: Callable[[str, Mapping[str, Any]], None] | None = None,
    detail_key: str = "",
    what: str = "",
) -> dict[str, Any]:
    """Call ``describe()`` every ``interval`` seconds until ``status_key`` is final.

    Returns the last description when the status is in ``success``; raises
    :class:`WaitFailedError` when it is in ``failure`` and :class:`BackendError`
    when ``timeout`` seconds pass first (the last sleep is cut to the deadline).
    ``on_status(status, description)`` is called whenever the status (or the
    value under ``detail_key``, e.g. ``SecondaryStatus``) changes.
    """
    success, failure = frozenset(success), frozenset(failure)
    what = what or status_key.removesuffix("Status")
    deadline = None if timeout is None else clock() + timeout
    seen: tuple[str, str] | None = None
    while True:
        description = dict(describe())
        status = str(description.get(status_key, ""))
        observed = (status, str(description.get(detail_key, "")) if detail_key else "")
        if on_status and observed != seen:
            on_status(status, description)
        seen = observed
        if status in success:
            return description
        if status in failure:
            reason = description.get("FailureReason", "no reason given")
            raise WaitFailedError(f"{what} is {status}: {reason}", status=status, description=description, where=what)
        if deadline is not None and clock() >= deadline:
            raise BackendError(f"{what} is still {status or 'unknown'} after {timeout:g} seconds", where=what,
                               hint="it keeps running; check on it later, or give a longer timeout")
        sleep(interval if deadline is None else max(0.0, min(interval, deadline - clock())))

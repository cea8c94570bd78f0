"""A started model server, seen from outside: does it answer, does it live, and how it is stopped."""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smtrain.backends.local.serving.container import CONTAINER_MODULE, PING_TIMEOUT
from smtrain.backends.local.serving.timeouts import STOP_GRACE


def ping(port: int, timeout: float = PING_TIMEOUT) -> tuple[int, str]:
    """``GET /ping``: (status, body), or (0, why) when nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/ping")
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        return 0, type(exc).__name__
    finally:
        connection.close()


def running(deployment: Mapping[str, Any]) -> bool:
    """Whether the deployment's server process lives."""
    return server_alive(int(deployment["pid"]), CONTAINER_MODULE)


def server_alive(pid: int, module: str) -> bool:
    """Whether ``pid`` is a live keeper of (or a live) ``python -m module`` (not a pid reused after a restart)."""
    import psutil

    from smtrain.backends.local.jobs.processes import command_line, is_alive

    try:
        return is_alive(pid) and module in command_line(psutil.Process(pid))
    except psutil.Error:
        return False


def stop_server(pid: int, module: str, grace_seconds: float = STOP_GRACE) -> None:
    """Stop a server's process group (keeper, master, workers), even when its keeper or master
    is gone, if what is left of it still is that server (not pids reused since). Its workers
    finish the requests they hold within ``grace_seconds``; what is left then is killed.

    The members seen before the signal are waited on by their exit (pidfds, on Linux), not by
    polling, which would add its interval and a scan of every process to each stop; a member that
    appeared meanwhile is left to :func:`stop_group`'s own wait."""
    import signal

    from smtrain.backends.local.jobs.processes import command_line, group_members, stop_group

    members = group_members(pid) if pid > 0 else []
    if not any(module in command_line(process) for process in members):
        return
    deadline = time.monotonic() + grace_seconds
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    wait_exits([process.pid for process in members], grace_seconds)
    stop_group(pid, grace_seconds=max(0.0, deadline - time.monotonic()))


def wait_exits(pids: list[int], timeout: float) -> None:
    """Return once every process of ``pids`` has exited (a zombie has), or after ``timeout``."""
    import select

    descriptors = []
    for pid in pids:
        try:
            descriptors.append(os.pidfd_open(pid))
        except (AttributeError, OSError):  # gone already, or no pidfd here: stop_group's wait covers it
            continue
    deadline = time.monotonic() + timeout
    try:
        poller = select.poll()
        for descriptor in descriptors:
            poller.register(descriptor, select.POLLIN)
        left = len(descriptors)
        while left and (remaining := deadline - time.monotonic()) > 0:
            for descriptor, _ in poller.poll(remaining * 1000):
                poller.unregister(descriptor)
                left -= 1
    finally:
        for descriptor in descriptors:
            os.close(descriptor)


def probe(deployment: Mapping[str, Any], startup_timeout: float) -> tuple[str, str]:
    """("ready" | "starting" | "failed", why) for a started container."""
    status, body = ping(int(deployment["port"]))
    if status == 200:
        return "ready", ""
    if status >= 500:
        return "failed", body
    if not running(deployment):
        return "failed", "the model server exited"
    if time.time() - float(deployment["started"]) > startup_timeout:
        return "failed", f"/ping did not answer 200 within {startup_timeout:.0f} seconds"
    return "starting", ""


def log_tail(path: Path, limit: int) -> str:
    """The last ``limit`` characters of a log, from a line start."""
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - limit))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    if len(text) >= limit and "\n" in text:
        text = text.split("\n", 1)[1]
    return text.strip()

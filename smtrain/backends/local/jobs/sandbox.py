"""Whether a local job sees its own folder at ``/opt/ml``, and the command that gives it that view.

SageMaker runs a job's container with the job's tree at ``/opt/ml``, and many
scripts hard-code those paths (``/opt/ml/model``, ``/opt/ml/processing/input``)
instead of reading ``SM_MODEL_DIR`` and the like. Locally each job's tree is a
folder in the smtrain home; on Linux, :func:`job_command` puts the job's command
behind :mod:`.enter_namespace`, so that the command and everything it starts
see that folder at ``/opt/ml`` (a private mount namespace per job: concurrent
jobs never see each other's). Its ``SM_*`` variables then say ``/opt/ml/...``
too, as in the container.

``SMTRAIN_JOB_NAMESPACE`` (``auto``, the default, or ``off``) decides; ``auto``
uses a namespace where a probe shows one can be made: not on macOS, nor where the
kernel refuses unprivileged user namespaces. Without one the job runs as before
(its paths are its folder's), and a failure that names ``/opt/ml`` says why and
what to do (:func:`failure_hint`).

Cheap to import: the supervisor imports it at start.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from smtrain.backends.local.jobs import enter_namespace

SETTING = "job_namespace"
VARIABLE = "SMTRAIN_JOB_NAMESPACE"
MODES = ("auto", "off")
LAUNCHER = Path(enter_namespace.__file__)
PROBE_SECONDS = 30.0
# A process that starts many jobs (the tuner) probes once and hands the answer to its jobs' supervisors
# through this variable ("1", or "0:<why>"). A wrong "1" costs nothing: the launcher falls back (fallback()).
PROBED_VARIABLE = "SMTRAIN_JOB_NAMESPACE_PROBED"
USERNS_HINT = ("enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 "
               "also kernel.apparmor_restrict_unprivileged_userns=0) and leave SMTRAIN_JOB_NAMESPACE unset")


@dataclass(frozen=True)
class Namespace:
    """``active``: jobs get a private ``/opt/ml``; otherwise ``why`` not."""

    active: bool
    why: str = ""


def configured_mode() -> str:
    """``SMTRAIN_JOB_NAMESPACE`` from the environment, ``.env`` or ``smtrain.toml`` (``auto`` if unreadable)."""
    try:
        from smtrain.core.config import load_config

        return str(getattr(load_config(), SETTING, "auto"))
    except Exception:  # the CLI has already reported a broken configuration; the job must still run
        value = os.environ.get(VARIABLE, "auto").strip().lower()
        return value if value in MODES else "auto"


def namespace(mode: str | None = None) -> Namespace:
    """Whether jobs get a private ``/opt/ml``: the setting (or ``mode``), then what this machine allows."""
    mode = configured_mode() if mode is None else mode
    if mode == "off":
        return Namespace(False, f"{VARIABLE}=off")
    return probe()


@functools.cache
def probe() -> Namespace:
    """What this machine allows, probed once per process (a supervisor runs one job), unless the process
    that started this one already probed (:func:`share_probe`)."""
    handed = os.environ.get(PROBED_VARIABLE, "")
    if handed == "1":
        return Namespace(True)
    if handed.startswith("0:"):
        return Namespace(False, handed[2:])
    return _probe()


def share_probe() -> None:
    """Probe here, once, for every job this process starts from now on (their supervisors inherit it)."""
    state = probe()
    os.environ[PROBED_VARIABLE] = "1" if state.active else f"0:{state.why}"


def _probe() -> Namespace:
    if not sys.platform.startswith("linux"):
        return Namespace(False, f"{sys.platform} has no mount namespaces (Linux only)")
    try:
        result = subprocess.run([sys.executable, "-I", str(LAUNCHER), "--probe"], capture_output=True, text=True,
                                timeout=PROBE_SECONDS, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Namespace(False, f"the namespace probe did not run: {exc}")
    if result.returncode != 0:
        return Namespace(False, (result.stderr.strip().splitlines() or ["the namespace probe failed"])[-1])
    return Namespace(True)


def job_command(argv: Sequence[str], job_folder: Path, *, say: Callable[[str], None] | None = None,
                mode: str | None = None) -> list[str]:
    """The command to run so that ``argv`` sees ``job_folder`` at ``/opt/ml``; ``argv`` itself without a namespace."""
    state = namespace(mode)
    if say is not None:
        say(f"Job folder at {enter_namespace.CONTAINER_ROOT} (a private mount namespace)" if state.active else
            f"WARNING no private {enter_namespace.CONTAINER_ROOT} for this job ({state.why}): its paths are "
            f"{job_folder}/...")
    if not state.active:
        return list(argv)
    return [sys.executable, "-I", str(LAUNCHER), str(job_folder), "--", *argv]


def mentions_container_root(lines: Iterable[str]) -> bool:
    return any(enter_namespace.CONTAINER_ROOT in line for line in lines)


def fallback(output_tail: Iterable[str]) -> Namespace | None:
    """The launcher's warning, if this job's namespace could not be made although the probe could."""
    start = enter_namespace.WARNING.split("{", 1)[0]
    for line in output_tail:
        if line.startswith(start) and ": " in line[len(start):]:
            return Namespace(False, line[len(start):].split(": ", 1)[1])
    return None


def failure_hint(output_tail: Iterable[str], *, mode: str | None = None) -> str:
    """For a failed job whose error names ``/opt/ml`` and that had no namespace: why, and what to do."""
    from smtrain.backends.local.jobs.job_state import error_excerpt

    lines = list(output_tail)
    state = fallback(lines) or namespace(mode)
    if state.active or not mentions_container_root(error_excerpt(lines).splitlines()):
        return ""
    fix = (f"unset {VARIABLE} (or set it to auto) on Linux" if state.why.endswith("=off") else USERNS_HINT)
    return (f"the script uses {enter_namespace.CONTAINER_ROOT}, which exists locally only in a job namespace, and "
            f"this job had none ({state.why}). Read the paths from SM_MODEL_DIR, SM_CHANNEL_<NAME>, SM_OUTPUT_DATA_DIR "
            f"(or argparse defaults from them), or {fix}")

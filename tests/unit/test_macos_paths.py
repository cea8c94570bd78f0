"""macOS behaviour, simulated on Linux: no child subreaper, and homes reached through links (/tmp, $TMPDIR)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from smtrain.execution.following import code_prefixes, path_mapper


def test_without_a_subreaper_the_supervisor_carries_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS has no PR_SET_CHILD_SUBREAPER: become_subreaper says so and never calls prctl."""
    import ctypes

    from smtrain.backends.local.jobs.processes import become_subreaper

    def no_prctl(*args: object, **kwargs: object) -> None:
        raise AssertionError("prctl is Linux-only")

    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(ctypes, "CDLL", no_prctl)
    assert become_subreaper() is False


def test_a_home_reached_through_a_link_still_maps_tracebacks(tmp_path: Path) -> None:
    """On macOS /tmp is a link to /private/tmp: the script's traceback shows the real path, the home the link."""
    (tmp_path / "private-tmp" / "home" / "jobs" / "job-1" / "code").mkdir(parents=True)
    (tmp_path / "tmp").symlink_to(tmp_path / "private-tmp")
    home = tmp_path / "tmp" / "home"
    to_user_paths = path_mapper(code_prefixes(home / "jobs" / "job-1" / "code"), "src")
    real = tmp_path / "private-tmp" / "home" / "jobs" / "job-1" / "code" / "train.py"
    assert to_user_paths(f'  File "{real}", line 3, in <module>') == '  File "src/train.py", line 3, in <module>'
    linked = home / "jobs" / "job-1" / "code" / "train.py"
    assert to_user_paths(f'  File "{linked}", line 3') == '  File "src/train.py", line 3'
    assert to_user_paths('  File "/opt/ml/code/train.py", line 3') == '  File "src/train.py", line 3'

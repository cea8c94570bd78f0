"""Runs under bad input: hostile or damaged archives, malformed filters; nothing half-written, nothing lost."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from smtrain.core.config import load_config
from smtrain.core.errors import UsageError
from smtrain.core.uris import to_path
from smtrain.runs import artifacts, store
from tests.functional.test_runs_local import fit, project

__all__ = ["project"]  # the fixture, shared with test_runs_local


def hostile_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("train.py", "../escaped.txt"):
            data = b"print('hi')\n"
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def test_checkout_refuses_a_hostile_archive_and_writes_nothing(project: Path, tmp_path: Path) -> None:
    fit(project, "victim")
    config = load_config(environ={}, cwd=project)
    run = store.get_run(config, "victim")
    to_path(run.source_uri).write_bytes(hostile_archive())
    target = tmp_path / "out" / "victim"
    with pytest.raises(UsageError, match="unsafe archive member"):
        artifacts.checkout(config, run, target)
    assert not target.exists()
    assert not (tmp_path / "out" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert list((tmp_path / "out").iterdir()) == []  # no scratch folder left behind


def test_a_damaged_archive_is_a_clear_error(project: Path) -> None:
    fit(project, "damaged")
    config = load_config(environ={}, cwd=project)
    run = store.get_run(config, "damaged")
    to_path(run.source_uri).write_bytes(b"not a tar at all")
    with pytest.raises(UsageError, match="cannot read the source archive") as caught:
        artifacts.source_files(config, run)
    assert caught.value.hint


def test_checkout_never_overwrites(project: Path) -> None:
    fit(project, "kept")
    config = load_config(environ={}, cwd=project)
    target = project / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        artifacts.checkout(config, store.get_run(config, "kept"), target)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    file_target = project / "a-file"
    file_target.write_text("x")
    with pytest.raises(UsageError):
        artifacts.checkout(config, store.get_run(config, "kept"), file_target)
    assert file_target.read_text() == "x"

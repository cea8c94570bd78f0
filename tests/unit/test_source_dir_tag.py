"""The source-dir tag a run records: relative inside the project, read back from wherever the user stands."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtrain.runs import provenance


def test_inside_the_project_the_tag_is_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".smtrain").mkdir()
    (tmp_path / "code" / "src").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "code")
    assert provenance.source_dir_value(Path("src")) == "code/src"
    assert provenance.source_dir_value(Path(".")) == "code"
    assert provenance.source_dir_from({provenance.SOURCE_DIR: "code/src"}) == Path("src")
    monkeypatch.chdir(tmp_path / "code" / "src")
    assert provenance.source_dir_from({provenance.SOURCE_DIR: "code/src"}) == Path(".")


def test_outside_the_project_the_tag_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "project" / ".smtrain").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    value = provenance.source_dir_value(Path("../elsewhere"))
    assert value == (tmp_path / "elsewhere").resolve().as_posix()
    assert provenance.source_dir_from({provenance.SOURCE_DIR: value}) == (tmp_path / "elsewhere").resolve()


def test_no_tag_a_gone_folder_or_an_untaggable_path_maps_nothing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert provenance.source_dir_from({}) is None
    assert provenance.source_dir_from({provenance.SOURCE_DIR: "moved-away"}) is None
    (tmp_path / "odd (copy)").mkdir()
    assert provenance.source_dir_value(Path("odd (copy)")) == ""  # SageMaker refuses ( ) in tags
    assert provenance.SOURCE_DIR not in provenance.run_tags(tmp_path / "odd (copy)")

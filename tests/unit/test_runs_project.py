"""One project, one store: the project is found by walking up, like git."""

from __future__ import annotations

from pathlib import Path

from smtrain.core.config import find_project, load_config


def test_subfolder_finds_the_project_by_its_toml(tmp_path: Path) -> None:
    (tmp_path / "smtrain.toml").write_text('prefix = "from-project"\n')
    deep = tmp_path / "notebooks" / "deeper"
    deep.mkdir(parents=True)
    config = load_config(environ={}, cwd=deep)
    assert config.home == tmp_path / ".smtrain"
    assert config.prefix == "from-project"
    assert find_project(deep) == tmp_path


def test_subfolder_finds_the_project_by_its_store(tmp_path: Path) -> None:
    (tmp_path / ".smtrain").mkdir()
    (tmp_path / "src").mkdir()
    assert load_config(environ={}, cwd=tmp_path / "src").home == tmp_path / ".smtrain"


def test_nearest_project_wins(tmp_path: Path) -> None:
    (tmp_path / ".smtrain").mkdir()
    inner = tmp_path / "inner"
    (inner / "sub").mkdir(parents=True)
    (inner / "smtrain.toml").write_text("")
    assert load_config(environ={}, cwd=inner / "sub").home == inner / ".smtrain"


def test_no_project_means_the_current_folder(tmp_path: Path) -> None:
    assert find_project(tmp_path) is None
    assert load_config(environ={}, cwd=tmp_path).home == tmp_path / ".smtrain"


def test_smtrain_home_wins_and_a_relative_flag_is_relative_to_cwd(tmp_path: Path) -> None:
    (tmp_path / ".smtrain").mkdir()
    (tmp_path / "sub").mkdir()
    assert load_config(environ={"SMTRAIN_HOME": "/elsewhere"}, cwd=tmp_path / "sub").home == Path("/elsewhere")
    assert load_config({"home": "state"}, environ={}, cwd=tmp_path / "sub").home == tmp_path / "sub" / "state"


def test_a_toml_home_is_relative_to_the_project(tmp_path: Path) -> None:
    (tmp_path / "smtrain.toml").write_text('home = "runs-store"\n')
    (tmp_path / "sub").mkdir()
    assert load_config(environ={}, cwd=tmp_path / "sub").home == tmp_path / "runs-store"

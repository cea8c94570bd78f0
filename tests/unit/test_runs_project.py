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


def test_the_walk_up_stops_at_the_git_repository_root(tmp_path: Path) -> None:
    (tmp_path / "smtrain.toml").write_text('prefix = "outside-the-repo"\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    assert find_project(repo / "src") is None
    assert load_config(environ={}, cwd=repo / "src").home == repo / "src" / ".smtrain"
    (repo / "smtrain.toml").write_text("")
    assert find_project(repo / "src") == repo


def test_a_worktree_git_file_ends_the_walk_too(tmp_path: Path) -> None:
    (tmp_path / ".smtrain").mkdir()
    worktree = tmp_path / "wt"
    worktree.mkdir()
    (worktree / ".git").write_text("gitdir: /elsewhere\n")
    assert find_project(worktree) is None


def test_a_stray_store_in_the_users_home_captures_nothing_below_it(tmp_path: Path) -> None:
    user_home = tmp_path / "me"
    (user_home / ".smtrain").mkdir(parents=True)
    (user_home / "projects" / "demo").mkdir(parents=True)
    assert find_project(user_home / "projects" / "demo", user_home=user_home) is None
    assert find_project(user_home, user_home=user_home) == user_home  # standing in the home, it is the project


def test_above_the_users_home_is_never_read(tmp_path: Path) -> None:
    (tmp_path / "smtrain.toml").write_text("")
    user_home = tmp_path / "me"
    (user_home / "x").mkdir(parents=True)
    assert find_project(user_home / "x", user_home=user_home) is None
    assert find_project(user_home, user_home=user_home) is None


def test_the_home_help_and_the_readme_say_the_one_definition() -> None:
    from click.testing import CliRunner

    from smtrain.cli import cli
    from smtrain.core.config import STORE_LOCATION

    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert " ".join(STORE_LOCATION.split()) in readme
    help_text = " ".join(CliRunner().invoke(cli, ["fit", "--help"]).output.split())
    assert " ".join(STORE_LOCATION.split()) in help_text

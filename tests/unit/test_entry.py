"""The console script: fast cached top-level help, and completion reaches click."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from smtrain import entry

PRINT_HELP_AND_CLICK_LOADED = (
    "import sys\nsys.argv = ['smtrain', '--help']\n"
    "from smtrain.entry import main\nmain()\nprint('click loaded:', 'click' in sys.modules)"
)


def run(code: str, tmp_path: Path, **env: str) -> str:
    environ = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environ).stdout


def test_help_is_rendered_by_click_then_served_from_the_cache_without_click(tmp_path: Path) -> None:
    first = run(PRINT_HELP_AND_CLICK_LOADED, tmp_path)
    second = run(PRINT_HELP_AND_CLICK_LOADED, tmp_path)
    assert first.startswith("Usage: smtrain")
    assert first.strip().endswith("click loaded: True")
    assert second.strip().endswith("click loaded: False")
    assert first.rsplit("click loaded", 1)[0] == second.rsplit("click loaded", 1)[0] == entry.render_help()


def test_cache_key_follows_the_cli_modules(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = entry.help_cache_path()
    assert path.parent == tmp_path / "smtrain"
    assert path == entry.help_cache_path()


def test_shell_completion_is_answered_by_click(tmp_path: Path) -> None:
    code = "import sys\nsys.argv = ['smtrain']\nfrom smtrain.entry import main\nmain()"
    environ = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "_SMTRAIN_COMPLETE": "bash_source"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ).stdout
    assert "_smtrain_completion" in out
    assert "Usage:" not in out


def test_global_options_count_before_or_after_the_command(tmp_path: Path) -> None:
    from unittest import mock

    from click.testing import CliRunner

    from smtrain.cli import cli
    from smtrain.cli.common import make_session

    seen: list[dict[str, object]] = []

    def recording_make_session(settings: dict[str, object], **kwargs: object) -> object:
        seen.append(dict(settings))
        return make_session(settings, **kwargs)

    with mock.patch("smtrain.cli.models.make_session", recording_make_session):
        before = CliRunner().invoke(cli, ["--home", str(tmp_path / "a"), "models", "--json"])
        after = CliRunner().invoke(cli, ["models", "--json", "--home", str(tmp_path / "b")])
    assert before.exit_code == after.exit_code == 0, (before.output, after.output)
    assert [s["home"] for s in seen] == [str(tmp_path / "a"), str(tmp_path / "b")]


def test_a_misspelt_command_gets_did_you_mean() -> None:
    from click.testing import CliRunner

    from smtrain.cli import cli

    result = CliRunner().invoke(cli, ["dploy", "x"])
    assert result.exit_code == 2
    assert "Did you mean 'deploy'?" in result.output


def test_completion_completes_commands_and_options(tmp_path: Path) -> None:
    import shutil

    smtrain = shutil.which("smtrain") or str(Path(sys.executable).with_name("smtrain"))

    def complete(words: str, index: int) -> str:
        environ = {**os.environ, "_SMTRAIN_COMPLETE": "bash_complete", "COMP_WORDS": words,
                   "COMP_CWORD": str(index), "XDG_CACHE_HOME": str(tmp_path)}
        return subprocess.run([smtrain], capture_output=True, text=True, env=environ).stdout

    assert complete("smtrain dep", 1).split() == ["plain,deploy"]
    assert "plain,--entry-point" in complete("smtrain fit --entry", 2).split()

"""--json and --quiet count before or after the command, in process (the e2e tests run the installed command)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from smtrain.cli import cli
from smtrain.cli.common import output_options
from smtrain.core.progress import spinner_wanted


class Terminal:
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("args", [["--quiet", "doctor"], ["doctor", "--quiet"]])
def test_quiet_drops_the_notes(tmp_path: Path, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    result = CliRunner().invoke(cli, [*args, "--home", str(tmp_path / "home")])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    loud = CliRunner().invoke(cli, ["doctor", "--home", str(tmp_path / "home")])
    assert "ok: no store at" in loud.stderr


@pytest.mark.parametrize("args", [["--json", "doctor"], ["doctor", "--json"]])
def test_json_before_or_after(tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, "--home", str(tmp_path / "home")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["problem"] is False


def probe_group(seen: list[tuple[bool, bool]]) -> click.Group:
    """The top-level group's options and callback, with one command that records what it was given."""

    @click.command()
    @click.option("--json", "as_json", is_flag=True, help="JSON.")
    @output_options
    def probe(as_json: bool) -> None:
        seen.append((as_json, spinner_wanted(Terminal())))

    return click.Group("smtrain", callback=cli.callback, params=cli.params, commands={"probe": probe})


def test_quiet_silences_live_progress_only_while_the_command_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    seen: list[tuple[bool, bool]] = []
    group = probe_group(seen)
    for args in (["--quiet", "probe"], ["probe", "--quiet"], ["--json", "probe"], ["probe", "--json"], ["probe"]):
        assert CliRunner().invoke(group, args).exit_code == 0
    assert seen == [(False, False), (False, False), (True, True), (True, True), (False, True)]
    assert spinner_wanted(Terminal())  # nothing stays silenced after the command

"""A plain `smtrain ls` (alone, --json, --all) runs without click, and answers as the click command does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Runs the console script's entry point and reports, once it has exited, which heavy modules it loaded.
PROGRAM = """\
import atexit, sys
atexit.register(lambda: print("loaded:", *sorted(m for m in ("click", "rich", "sqlite3", "boto3")
                                                 if m in sys.modules), file=sys.stderr))
sys.argv = ["smtrain", *sys.argv[1:]]
from smtrain.entry import main
main()
"""


def smtrain(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROGRAM, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=dict(os.environ))


def loaded(done: subprocess.CompletedProcess[str]) -> list[str]:
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("loaded:")]
    return line.split()[1:]


def without_loaded(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith("loaded:"))


@pytest.mark.parametrize("flags", [[], ["--json"], ["--all"], ["--json", "--all", "--json"]])
def test_plain_ls_needs_neither_click_nor_sqlite_without_a_store(tmp_path: Path, flags: list[str]) -> None:
    plain = smtrain(tmp_path, "ls", *flags)
    through_click = smtrain(tmp_path, "ls", "--limit", "20", *flags)
    assert loaded(plain) == [] and "click" in loaded(through_click)
    assert (plain.returncode, plain.stdout, without_loaded(plain.stderr)) == \
        (through_click.returncode, through_click.stdout, without_loaded(through_click.stderr))
    assert plain.returncode == 0
    assert plain.stdout == ("" if "--json" in flags else "run\tbackend\tstatus\tage\tduration\thyperparameters\t"
                                                          "metrics\ttags\twarm_pool\tendpoints\n")
    assert without_loaded(plain.stderr) == ("" if "--json" in flags else "no runs\n")
    assert list(tmp_path.iterdir()) == []  # read-only: no store made


def test_plain_ls_reports_a_bad_setting_as_click_does(tmp_path: Path) -> None:
    (tmp_path / "smtrain.toml").write_text('backend = "nowhere"\n')
    plain = smtrain(tmp_path, "ls")
    through_click = smtrain(tmp_path, "ls", "--limit", "20")
    assert plain.returncode == through_click.returncode == 2
    assert without_loaded(plain.stderr) == without_loaded(through_click.stderr)
    assert without_loaded(plain.stderr).startswith("error: smtrain.toml: unknown backend 'nowhere'")
    assert "Traceback" not in plain.stderr


def test_plain_ls_refuses_a_home_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("not a folder")
    env_home = {"SMTRAIN_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", PROGRAM, "ls"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env_home})
    assert done.returncode == 1
    assert without_loaded(done.stderr).startswith(f"error: {tmp_path / 'home'}: the smtrain home is a file")


def test_other_ls_options_and_commands_go_through_click(tmp_path: Path) -> None:
    assert "click" in loaded(smtrain(tmp_path, "ls", "--status", "Completed"))
    assert "click" in loaded(smtrain(tmp_path, "--home", str(tmp_path / "h"), "ls"))
    helped = smtrain(tmp_path, "ls", "--help")
    assert helped.returncode == 0 and "--where" in helped.stdout and "click" in loaded(helped)

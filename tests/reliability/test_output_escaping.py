"""Output is never passed through raw: `show` and `diff` escape control characters; `checkout` refuses names with them.

A run's hyperparameter names and values, its source files' names and contents carry terminal escape sequences
(set the window title, clear the screen, colour), CRs that rewrite a line and a bell. What reaches the terminal
holds none of those bytes, only their ``repr``-style escapes, one value per line as smtrain printed it.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from smtrain.core.config import load_config
from smtrain.core.errors import UsageError
from smtrain.core.uris import to_path
from smtrain.runs import artifacts, store
from tests.e2e.conftest import SMTRAIN
from tests.functional.test_runs_local import fit, project
from tests.helpers import git

__all__ = ["project"]  # the fixture, shared with test_runs_local

TITLE, CLEAR, RED = "\x1b]0;pwned\x07", "\x1b[2J", "\x1b[31m"
HOSTILE_HPS = {"note": f"{TITLE}{CLEAR}", f"x{RED}": "a\rb\nc", "bidi": "\u202etxt.exe", "c1": "\x9b31m"}
RAW = ("\x1b", "\r", "\x07", "\x9b", "\u202e")


def smtrain(project: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    return subprocess.run([SMTRAIN, *args], cwd=project, env=env, capture_output=True, timeout=180)


def assert_no_raw_controls(output: bytes) -> str:
    text = output.decode("utf-8")
    assert [c for c in RAW if c in text] == []
    return text


@pytest.fixture
def hostile(project: Path) -> Path:
    fit(project, "plain")
    (project / "src" / f"notes{RED}.txt").write_text(f"# {TITLE}{CLEAR}\rline rewritten\n", newline="")
    git(project, "add", ".")
    git(project, "commit", "-qm", "hostile")
    fit(project, "hostile", hyperparameters=HOSTILE_HPS)
    return project


def test_show_escapes_every_value(hostile: Path) -> None:
    done = smtrain(hostile, "show", "hostile")
    assert done.returncode == 0, done.stderr
    text = assert_no_raw_controls(done.stdout)
    lines = text.splitlines()
    assert "  note = \\x1b]0;pwned\\x07\\x1b[2J" in lines
    assert "  x\\x1b[31m = a\\rb\\nc" in lines  # one line: the LF is escaped too
    assert "  bidi = \\u202etxt.exe" in lines and "  c1 = \\x9b31m" in lines
    assert any(line.startswith("  notes\\x1b[31m.txt (") for line in lines)


def test_diff_escapes_values_and_the_source_diff(hostile: Path) -> None:
    done = smtrain(hostile, "diff", "plain", "hostile")
    assert done.returncode == 0, done.stderr
    text = assert_no_raw_controls(done.stdout)
    lines = text.splitlines()
    assert "  note: - -> \\x1b]0;pwned\\x07\\x1b[2J" in lines
    assert "  x\\x1b[31m: - -> a\\rb\\nc" in lines
    assert "+# \\x1b]0;pwned\\x07\\x1b[2J\\rline rewritten" in lines  # a lone CR is shown, never acted on
    assert "+++ hostile/notes\\x1b[31m.txt" in lines


def test_diff_json_keeps_values_exact(hostile: Path) -> None:
    import json

    done = smtrain(hostile, "diff", "plain", "hostile", "--json", "--no-source")
    assert done.returncode == 0, done.stderr
    assert_no_raw_controls(done.stdout)  # JSON escapes them itself
    rows = {r["name"]: r["b"] for r in json.loads(done.stdout)["hyperparameters"]}
    assert rows["note"] == HOSTILE_HPS["note"] and rows[f"x{RED}"] == "a\rb\nc"


def archive(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in names:
            member = tarfile.TarInfo(name)
            member.size = 2
            tar.addfile(member, io.BytesIO(b"x\n"))
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["evil\x1b[2J.py", "two\nnames.py", "cr\rname.py", "dir\x1b]0;t\x07/a.py",
                                  "bell\x07.py", "bidi\u202eyp.exe"],
                         ids=["esc", "newline", "cr", "esc-in-folder", "bell", "bidi"])
def test_checkout_refuses_names_with_control_characters(project: Path, tmp_path: Path, name: str) -> None:
    fit(project, "named")
    config = load_config(environ={}, cwd=project)
    run = store.get_run(config, "named")
    to_path(run.source_uri).write_bytes(archive(["train.py", name]))
    target = tmp_path / "out" / "named"
    with pytest.raises(UsageError, match="with a control character in its name") as caught:
        artifacts.checkout(config, run, target)
    assert [c for c in (*RAW, "\n") if c in caught.value.what] == []  # the name is shown escaped
    assert "nothing was written" in caught.value.hint
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []  # no scratch left either


def test_checkout_refuses_a_model_member_with_control_characters(project: Path, tmp_path: Path) -> None:
    fit(project, "model-named")
    config = load_config(environ={}, cwd=project)
    run = store.get_run(config, "model-named")
    to_path(run.model_data).write_bytes(archive(["model.txt", "m\x1b[2J.txt"]))
    target = tmp_path / "out" / "model-named"
    with pytest.raises(UsageError, match="control character"):
        artifacts.checkout(config, run, target, model=True)
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []


def test_checkout_cli_says_so_and_exits_2(hostile: Path) -> None:
    done = smtrain(hostile, "checkout", "hostile", "back")
    assert done.returncode == 2
    err = assert_no_raw_controls(done.stderr)
    assert "notes\\x1b[31m.txt" in err and "Traceback" not in err
    assert not (hostile / "back").exists()

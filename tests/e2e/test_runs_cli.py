"""Runs through the CLI as a user has them: one project store from any subfolder; ls, show, diff, checkout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli
from tests.helpers import git, git_project

pytestmark = pytest.mark.e2e

SCRIPT = """\
import json, os, sys
hps = json.loads(os.environ["SM_HPS"])
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump(hps, f)
for step in range(3):
    print(f"step={step} loss={1.0 / (step + 1) * hps.get('scale', 1)}")
print(f"accuracy={hps.get('accuracy', 0.5)}")
"""
METRICS = ["--metric-definition", r"loss=loss=([0-9.]+)", "--metric-definition", r"accuracy=accuracy=([0-9.]+)"]
LONG = "x" * 150


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = git_project(tmp_path / "project", SCRIPT)
    (root / "notebooks" / "deep").mkdir(parents=True)
    return root


def user(cwd: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    return Cli(cwd, env)


def without_age(listing: str) -> str:
    """A piped `smtrain ls` without its age column, which ticks between two calls."""
    return "\n".join("\t".join(c for i, c in enumerate(line.split("\t")) if i != 3) for line in listing.splitlines())


def fit(cli: Cli, name: str, *extra: str) -> None:
    result = cli("fit", "--entry-point", "train.py", "--source-dir", str(cli.cwd.parent.parent / "src")
                 if cli.cwd.name == "deep" else "../src", "--channel", "train=../data", "--job-name", name,
                 *METRICS, *extra, timeout=120)
    assert result.code == 0, result.err


def test_one_project_one_store_from_any_subfolder(project: Path) -> None:
    fit(user(project / "src"), "from-src", "--tag", "team=ml", "--hp", "accuracy=0.8")
    assert (project / ".smtrain" / "state.db").is_file()
    assert not (project / "src" / ".smtrain").exists()
    listed = user(project / "notebooks" / "deep")("ls", "--json")
    assert listed.code == 0, listed.err
    (run,) = [json.loads(line) for line in listed.out.splitlines()]
    assert run["name"] == "from-src" and run["tags"]["team"] == "ml"
    assert run["tags"]["smtrain:git-dirty"] == "false" and len(run["tags"]["smtrain:git-commit"]) == 40
    assert run["metrics"] == {"loss": pytest.approx(1 / 3), "accuracy": 0.8}


def test_read_only_commands_never_create_a_store(tmp_path: Path) -> None:
    cli = user(tmp_path)
    assert cli("ls").code == 0
    for args in (["show", "nope"], ["logs", "nope"], ["diff", "a", "b"], ["checkout", "nope"]):
        result = cli(*args)
        assert result.code == 1, (args, result.err)
        assert result.err.startswith("error: ") and "Traceback" not in result.err and "unexpected" not in result.err
    assert list(tmp_path.iterdir()) == []


def test_ls_show_diff_checkout(project: Path) -> None:
    cli = user(project / "src")
    fit(cli, "first", "--hp", "accuracy=0.7", "--hp", f"note={LONG}")
    (project / "src" / "train.py").write_text(SCRIPT + "# tuned\n")
    git(project, "commit", "-qam", "tune")
    fit(cli, "second", "--hp", "accuracy=0.9", "--hp", "scale=2", "--tag", "stage=try")
    fit(cli, "third", "--hp", "accuracy=0.6")

    piped = cli("ls")
    assert piped.out.splitlines()[0].split("\t")[:3] == ["run", "backend", "status"]
    assert f"note={LONG}" in piped.out and "loss=0.3333333333333333" in piped.out  # never cut when piped
    assert [line.split("\t")[0] for line in cli("ls", "--limit", "2").out.splitlines()[1:]] == ["third", "second"]
    assert "2 of 3 runs shown" in cli("ls", "--limit", "2").err
    for flags in ([], ["--json"], ["--all"], ["--json", "--all"]):  # a plain `ls` skips click: the same answer
        plain, through_click = cli("ls", *flags), cli("ls", "--limit", "20", *flags)
        assert (plain.code, without_age(plain.out), plain.err) == \
            (through_click.code, without_age(through_click.out), through_click.err)
    best = cli("ls", "--where", "accuracy>0.65", "--sort", "accuracy", "--json")
    assert [json.loads(line)["name"] for line in best.out.splitlines()] == ["second", "first"]
    assert [json.loads(r)["name"] for r in cli("ls", "--tag", "stage=try", "--json").out.splitlines()] == ["second"]
    bad = cli("ls", "--where", "accuracy>>1")
    assert bad.code == 2 and "--where" in bad.err

    shown = cli("show", "second")
    assert shown.code == 0, shown.err
    assert "accuracy = 0.9" in shown.out and "3 values" in shown.out and "train.py" in shown.out
    assert "scale = 2" in shown.out and "stage=try" in shown.out and "job scikit-learn" in shown.out
    document = json.loads(cli("show", "second", "--json").out)
    assert [p["Value"] for p in document["metric_history"] if p["MetricName"] == "loss"] == [2.0, 1.0, 2 / 3]

    markdown = cli("diff", "first", "second", "--md")
    assert markdown.code == 0, markdown.err
    assert "| accuracy | 0.7 | 0.9 | +0.2 |" in markdown.out
    assert "+# tuned" in markdown.out and "<details>" in markdown.out
    against_main = cli("diff", "main", "third")
    assert "third vs second" in against_main.out and "source:\n identical" not in against_main.out

    target = project / "checked-out"
    done = cli("checkout", "first", str(target), "--model")
    assert done.code == 0, done.err
    assert (target / "train.py").read_text() == SCRIPT
    assert json.loads((target / "model" / "model.json").read_text())["accuracy"] == 0.7
    again = cli("checkout", "second", str(target))
    assert again.code == 2 and "not empty" in again.err
    assert (target / "train.py").read_text() == SCRIPT  # untouched

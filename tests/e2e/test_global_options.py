"""Global options (issue 10): --json and --quiet before or after the command; a misspelt SMTRAIN_* variable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli
from tests.e2e.test_cli_spinner import run_on_a_terminal

pytestmark = pytest.mark.e2e

SCRIPT = ('import os\nprint("trained")\nprint("accuracy=0.9")\n'
          'open(os.path.join(os.environ["SM_MODEL_DIR"], "m.txt"), "w").write("x")\n')
FAILING = 'print("about to fail")\nraise SystemExit("the data is bad")\n'
CI_INIT = ["--entry-point", "train.py", "--source-dir", "tiny", "--channel", "train=s3://bucket/data/train/",
           "--gate", "accuracy>=0.8", "--group", "penguins"]


def tiny(cli: Cli, script: str = SCRIPT) -> list[str]:
    """The arguments of `smtrain fit` for a one-file job that needs no data."""
    (cli.cwd / "tiny").mkdir(exist_ok=True)
    (cli.cwd / "tiny" / "train.py").write_text(script)
    (cli.cwd / "data").mkdir(exist_ok=True)
    (cli.cwd / "data" / "rows.csv").write_text("a,b\n1,2\n" * 1000)
    return ["--entry-point", "train.py", "--source-dir", "tiny", "--channel", "train=data",
            "--metric-definition", "accuracy=accuracy=([0-9.]+)"]


@pytest.fixture
def trained(cli: Cli) -> str:
    done = cli("fit", *tiny(cli), "--job-name", "tiny-1")
    assert done.code == 0, done.err
    return "tiny-1"


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_quiet_fit_prints_nothing_but_the_exit_code(cli: Cli, before: bool) -> None:
    args = tiny(cli)
    done = cli("--quiet", "fit", *args) if before else cli("fit", *args, "--quiet")
    assert done.code == 0, done.err
    assert (done.out, done.err) == ("", "")


def test_quiet_fit_on_a_terminal_shows_no_spinner_and_no_bar(cli: Cli) -> None:
    args = tiny(cli)
    env = {k: v for k, v in cli.env.items() if k != "NO_COLOR"}
    assert run_on_a_terminal(cli, "--quiet", "fit", *args, env=env) == ""
    assert run_on_a_terminal(cli, "fit", *args, "--quiet", env=env) == ""


def test_quiet_prepare_on_a_terminal_shows_no_upload_bar(cli: Cli) -> None:
    rows = "".join(f"{i},{i * 2},{'male' if i % 2 else 'female'}\n" for i in range(20_000))
    (cli.cwd / "rows.csv").write_text("x,y,sex\n" + rows)
    env = {k: v for k, v in cli.env.items() if k != "NO_COLOR"}
    loud = run_on_a_terminal(cli, "prepare", "--csv", "rows.csv", "--out", "a", "--name", "a", env=env)
    assert "upload file://" in loud and "next: smtrain fit" in loud
    assert run_on_a_terminal(cli, "--quiet", "prepare", "--csv", "rows.csv", "--out", "b", "--name", "b", env=env) \
        == ""


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_quiet_still_says_why_a_job_failed(cli: Cli, before: bool) -> None:
    args = tiny(cli, FAILING)
    done = cli("--quiet", "fit", *args) if before else cli("fit", *args, "--quiet")
    assert done.code == 1
    assert "Failed" in done.err and "the data is bad" in done.err and "smtrain logs" in done.err
    assert "about to fail" not in done.out  # the log itself is left out; `smtrain logs` shows it


def test_json_before_or_after_the_command_is_the_same(cli: Cli, trained: str) -> None:
    before, after = cli("--json", "ls"), cli("ls", "--json")
    assert before.code == after.code == 0, before.err + after.err
    assert [r["name"] for r in before.json_lines()] == [r["name"] for r in after.json_lines()] == [trained]
    shown_before, shown_after = cli("--json", "show", trained), cli("show", trained, "--json")
    assert shown_before.json()["name"] == shown_after.json()["name"] == trained
    logs_before = cli("--json", "logs", trained)
    assert logs_before.json()["TrainingJobName"] == trained
    fit = cli("--json", "fit", *tiny(cli), "--job-name", "tiny-2")
    assert fit.code == 0, fit.err
    assert fit.json()["TrainingJobStatus"] == "Completed"


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_checkout_json_lists_what_it_wrote(cli: Cli, trained: str, before: bool) -> None:
    target = cli.cwd / "out"
    args = ["checkout", trained, str(target), "--model"]
    done = cli("--json", *args) if before else cli(*args, "--json")
    assert done.code == 0, done.err
    record = done.json()
    assert record["name"] == trained and record["directory"] == str(target.resolve())
    assert record["model_directory"] == str((target / "model").resolve())
    assert sorted(record["files"]) == ["model/m.txt", "train.py"]
    assert all((target / name).is_file() for name in record["files"])


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_report_json_has_the_gate_and_the_markdown(cli: Cli, trained: str, before: bool) -> None:
    args = ["report", trained, "--gate", "accuracy>=0.95", "--out", "report.md"]
    done = cli("--json", *args) if before else cli(*args, "--json")
    assert done.code == 1  # the gate failed
    record = done.json()
    assert record["name"] == trained and record["metrics"] == {"accuracy": 0.9}
    assert record["gate"] == {"condition": "accuracy>=0.95", "metric": "accuracy", "operator": ">=",
                              "threshold": 0.95, "value": 0.9, "passed": False}
    assert record["out"] == str((cli.cwd / "report.md").resolve())
    assert record["markdown"] == (cli.cwd / "report.md").read_text()
    assert "gate FAILED" in done.err  # a failed gate is said even as JSON


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_ci_init_json_names_the_file_and_its_settings(cli: Cli, before: bool) -> None:
    done = cli("--json", "ci", "init", "github", *CI_INIT) if before else cli("ci", "init", "github", *CI_INIT,
                                                                              "--json")
    assert done.code == 0, done.err
    record = done.json()
    path = cli.cwd / ".github" / "workflows" / "smtrain.yml"
    assert record["path"] == str(path.resolve()) and path.is_file()
    assert (record["provider"], record["replaced"], record["group"], record["gate"]) == \
        ("github", False, "penguins", "accuracy>=0.8")
    again = cli("ci", "init", "github", *CI_INIT, "--force", "--json")
    assert json.loads(again.out)["replaced"] is True


def test_quiet_ls_and_checkout_keep_stdout_and_drop_notes(cli: Cli, trained: str) -> None:
    cli("fit", *tiny(cli), "--job-name", "tiny-2")
    listed = cli("--quiet", "ls", "--limit", "1")
    assert listed.code == 0 and len(listed.out.splitlines()) == 2  # the header and one run
    assert listed.err == ""  # no "1 of 2 runs shown"
    checked = cli("checkout", trained, str(cli.cwd / "out"), "--quiet")
    assert (checked.code, checked.out, checked.err) == (0, "", "")


def test_a_misspelt_variable_gets_did_you_mean(cli: Cli, workdir: Path) -> None:
    env = dict(cli.env, SMTRAIN_HOMEE=str(workdir / "elsewhere"))
    done = Cli(cli.cwd, env)("ls")
    assert done.code == 0, done.err
    assert "warning: SMTRAIN_HOMEE (in the environment) is not an smtrain setting and is ignored; " \
        "did you mean SMTRAIN_HOME?" in done.err
    quiet = Cli(cli.cwd, env)("--quiet", "ls")
    assert "did you mean SMTRAIN_HOME?" in quiet.err  # a setting that did not take is worth saying even so
    helped = Cli(cli.cwd, env)("ls", "--help")
    assert helped.code == 0 and "SMTRAIN_HOMEE" not in helped.err  # --help runs no check


def test_a_misspelt_variable_in_dotenv_gets_did_you_mean(cli: Cli) -> None:
    (cli.cwd / ".env").write_text("SMTRAIN_BACKNED=sagemaker\n")
    done = cli("ls")
    assert done.code == 0, done.err
    assert "SMTRAIN_BACKNED (in " in done.err and "did you mean SMTRAIN_BACKEND" in done.err

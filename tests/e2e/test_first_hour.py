"""The first hour (issue 10): --json everywhere, --max-runtime, and errors that say where and what is near."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Cli

SCRIPT = 'import os\nprint("trained")\nopen(os.path.join(os.environ["SM_MODEL_DIR"], "m.txt"), "w").write("x")\n'


@pytest.fixture
def trained(cli: Cli) -> str:
    """A finished job called penguins-1, from a tiny script (no data needed)."""
    (cli.cwd / "tiny").mkdir()
    (cli.cwd / "tiny" / "train.py").write_text(SCRIPT)
    done = cli("fit", "--entry-point", "train.py", "--source-dir", "tiny", "--job-name", "penguins-1",
               "--max-runtime", "600", "--json")
    assert done.code == 0, done.err
    return "penguins-1"


def test_fit_and_logs_answer_json_with_the_max_runtime(cli: Cli, trained: str) -> None:
    described = cli("logs", trained, "--json")
    assert described.code == 0, described.err
    assert described.json()["StoppingCondition"]["MaxRuntimeInSeconds"] == 600
    assert "trained" in described.err  # the log goes to stderr, so stdout stays one JSON document


def test_stop_json_describes_the_stopping_job(cli: Cli) -> None:
    (cli.cwd / "slow").mkdir()
    (cli.cwd / "slow" / "slow.py").write_text("import time\ntime.sleep(120)\n")
    started = cli("fit", "--entry-point", "slow.py", "--source-dir", "slow", "--job-name", "slow-1", "--no-wait",
                  "--json")
    assert started.code == 0, started.err
    stopped = cli("stop", "slow-1", "--json")
    assert stopped.code == 0, stopped.err
    assert stopped.json()["TrainingJobStatus"] in ("Stopping", "Stopped")
    ended = cli("logs", "slow-1", "--json")  # follows until the job has really ended
    assert ended.json()["TrainingJobStatus"] == "Stopped"


def test_max_runtime_below_one_is_a_usage_error(cli: Cli) -> None:
    done = cli("plan", "fit", "--entry-point", "penguins.py", "--source-dir", "entry_points", "--max-runtime", "0")
    assert done.code == 2
    assert "--max-runtime" in done.err


def test_plan_fit_sends_the_max_runtime(cli: Cli) -> None:
    done = cli("plan", "fit", "--entry-point", "penguins.py", "--source-dir", "entry_points", "--max-runtime", "90")
    assert done.code == 0, done.err
    request = next(step for step in done.json() if step.get("operation") == "CreateTrainingJob")
    assert request["params"]["StoppingCondition"]["MaxRuntimeInSeconds"] == 90


def test_a_misspelt_job_names_where_it_looked_and_the_closest_name(cli: Cli, trained: str) -> None:
    done = cli("deploy", "penguns-1")
    assert done.code == 1
    home = cli.env["SMTRAIN_HOME"]
    assert f"training job penguns-1 not found in the local backend (home {home}); did you mean penguins-1?" \
        in done.err
    assert "Traceback" not in done.err


def test_an_unknown_endpoint_names_the_backend(cli: Cli) -> None:
    done = cli("predict", "nowhere", "--body", "1")
    assert done.code == 1
    assert "endpoint nowhere not found in the local backend" in done.err


def test_a_taken_job_name_suggests_a_generated_one(cli: Cli, trained: str) -> None:
    done = cli("fit", "--entry-point", "train.py", "--source-dir", "tiny", "--job-name", trained)
    assert done.code == 1
    assert f"drop --job-name {trained} for a generated one" in done.err


def test_a_misspelt_entry_point_gets_did_you_mean(cli: Cli) -> None:
    done = cli("fit", "--entry-point", "penguin.py", "--source-dir", "entry_points")
    assert done.code == 2
    assert "did you mean penguins.py" in done.err


def test_a_missing_source_dir_points_at_the_folder_that_has_the_entry_point(cli: Cli) -> None:
    done = cli("fit", "--entry-point", "penguins.py")
    assert done.code == 2
    assert "did you mean --source-dir entry_points?" in done.err


def test_a_misspelt_setting_gets_did_you_mean(cli: Cli) -> None:
    (cli.cwd / "smtrain.toml").write_text('regoin = "eu-west-1"\n')
    done = cli("ls")
    assert done.code == 2
    assert "unknown setting 'regoin'" in done.err
    assert "did you mean region?" in done.err


def test_teardown_json_lists_what_went(cli: Cli) -> None:
    done = cli("teardown", "nothing-here", "--json")
    assert done.code == 0, done.err
    assert done.json() == [{"EndpointName": "nothing-here", "Removed": []}]


def test_plan_deploy_takes_deploy_options(cli: Cli) -> None:
    done = cli("plan", "deploy", "some-job", "--instance-count", "2", "--workers", "2", "--json")
    assert done.code == 1  # the options are taken; the job is what is missing
    assert "training job some-job not found in the local backend" in done.err

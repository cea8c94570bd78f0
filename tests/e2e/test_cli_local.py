"""The penguins workflow through the CLI on the local backend, and its failure modes."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e


def prepare(cli: Cli) -> dict[str, object]:
    result = cli("prepare", "--json")
    assert result.code == 0, result.err
    return result.json()  # type: ignore[no-any-return]


def fit_args(data: dict[str, object], *extra: str) -> list[str]:
    hps = [f"--hp={k}={v}" for k, v in data["hyperparameters"].items()]  # type: ignore[attr-defined]
    return ["fit", "--entry-point", "penguins.py", "--source-dir", "entry_points",
            "--channel", f"train={data['train']}", *hps, *extra]


def test_workflow_step_by_step(cli: Cli, workdir: Path) -> None:
    data = prepare(cli)
    again = cli("prepare")
    assert "0 bytes uploaded" in again.err

    fit = cli(*fit_args(data, "--hp", "C=0.5", "--job-name", "penguins-e2e", "--json",
                        "--metric-definition", r"train:accuracy=train_accuracy=([0-9.]+)"))
    assert fit.code == 0, fit.err
    job = fit.json()
    assert job["TrainingJobName"] == "penguins-e2e"
    assert job["TrainingJobStatus"] == "Completed"
    assert job["HyperParameters"]["C"] == "0.5"
    assert job["HyperParameters"]["target"] == '"sex"'
    assert job["ModelArtifacts"]["S3ModelArtifacts"].startswith("file://")
    assert Path(job["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("file://")).is_file()
    assert [m["MetricName"] for m in job["FinalMetricDataList"]] == ["train:accuracy"]
    assert "train_accuracy=" in fit.err  # the log streamed live

    logs = cli("logs", "penguins-e2e")
    assert logs.code == 0 and "train_accuracy=" in logs.out and "train_accuracy=" not in logs.err

    deployed = cli("deploy", "penguins-e2e", "--endpoint-name", "penguins-ep", "--json")
    assert deployed.code == 0, deployed.err
    endpoint = deployed.json()
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["Url"].startswith("http://127.0.0.1:")

    row = "Adelie,Torgersen,39.1,18.7,181.0,3750.0"
    predicted = cli("predict", "penguins-ep", "--body", row)
    assert predicted.code == 0, predicted.err
    assert json.loads(predicted.out) in (["male"], ["female"])
    piped = cli("predict", "penguins-ep", "--content-type", "application/json",
                stdin=json.dumps([["Adelie", "Torgersen", 39.1, 18.7, 181.0, 3750.0]]))
    assert piped.code == 0 and json.loads(piped.out) == json.loads(predicted.out)

    import boto3

    runtime = boto3.client("sagemaker-runtime", endpoint_url=endpoint["Url"], region_name="us-east-1",
                           aws_access_key_id="local", aws_secret_access_key="local")
    response = runtime.invoke_endpoint(EndpointName="penguins-ep", ContentType="text/csv", Body=row)
    assert json.loads(response["Body"].read()) == json.loads(predicted.out)

    listing = [json.loads(line) for line in cli("ls", "--json").out.splitlines()]
    assert [run["name"] for run in listing] == ["penguins-e2e"]
    assert [(e["name"], e["status"]) for e in listing[0]["endpoints"]] == [("penguins-ep", "InService")]

    first = cli("teardown", "penguins-ep")
    assert first.code == 0 and "Endpoint penguins-ep" in first.err
    second = cli("teardown", "penguins-ep")
    assert second.code == 0 and "already gone" in second.err


def test_quickstart(cli: Cli) -> None:
    result = cli("quickstart")
    assert result.code == 0, result.err
    assert "test accuracy:" in result.err
    assert "tearing down" in result.err
    assert all(run["endpoints"] == [] for run in map(json.loads, cli("ls", "--json").out.splitlines()))

    # The last lines suggest what to run next; the SageMaker plan among them runs as printed, with no AWS account.
    hint = result.err.split("next:", 1)[1]
    plan_command = hint.split("smtrain plan fit", 1)[1].split("# the exact", 1)[0].replace("\\\n", " ")
    planned = cli("plan", "fit", *shlex.split(plan_command))
    assert planned.code == 0, planned.err
    assert [step["type"] for step in planned.json()][-2:] == ["ApiCall", "Wait"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "--entry-point", "missing.py", "--source-dir", "entry_points", "--channel", "train=."],
         "entry point 'missing.py' not found"),
        (["fit", "--entry-point", "penguins.py", "--source-dir", "entry_points", "--channel", "train=nowhere"],
         "path 'nowhere' does not exist"),
        (["fit", "--entry-point", "penguins.py", "--source-dir", "entry_points", "--channel", "train=.",
          "--hp", "novalue"], "malformed --hp 'novalue'"),
        (["teardown"], "name one endpoint"),
    ],
)
def test_usage_errors_exit_2_without_traceback(cli: Cli, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.code == 2, result.err
    assert message in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("args", [["logs", "no-such-job"], ["deploy", "no-such-job"],
                                  ["predict", "no-such-endpoint", "--body", "1"]])
def test_unknown_names_exit_1_with_a_message(cli: Cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.code == 1, result.err
    assert "no-such" in result.err and "hint:" in result.err
    assert "Traceback" not in result.err


def test_failing_script_reports_the_traceback_tail(cli: Cli, workdir: Path) -> None:
    (workdir / "broken").mkdir()
    (workdir / "broken" / "train.py").write_text("def f():\n    raise ValueError('bad column sex2')\n\nf()\n")
    result = cli("fit", "--entry-point", "train.py", "--source-dir", "broken", "--channel", "train=broken", "--json")
    assert result.code == 1
    job = result.json()
    assert job["TrainingJobStatus"] == "Failed"
    assert "ValueError: bad column sex2" in job["FailureReason"]
    assert len(job["FailureReason"]) <= 1024
    assert "Traceback" not in result.err.split("ValueError")[0].splitlines()[0]


def test_debug_shows_the_traceback(cli: Cli) -> None:
    result = cli("logs", "no-such-job", "--debug")
    assert result.code == 1 and "Traceback" in result.err


SLEEPER = """
import argparse, os, subprocess, sys, time
parser = argparse.ArgumentParser()
parser.add_argument("--out")
args, _ = parser.parse_known_args()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open(args.out + ".tmp", "w") as handle:
    handle.write(f"{os.getpid()} {child.pid}")
os.replace(args.out + ".tmp", args.out)
time.sleep(300)
"""


def test_ctrl_c_stops_the_job_and_its_whole_process_tree(cli: Cli, workdir: Path) -> None:
    from smtrain.backends.local.jobs.processes import is_alive
    from tests.e2e.conftest import SMTRAIN
    from tests.helpers import interrupt_when, wait_until

    (workdir / "slow").mkdir()
    (workdir / "slow" / "train.py").write_text(SLEEPER)
    pids_file = workdir / "pids.txt"
    code, err = interrupt_when(
        [SMTRAIN, "fit", "--entry-point", "train.py", "--source-dir", "slow", "--channel", "train=slow",
         "--hp", f"out={pids_file}", "--job-name", "sleeper"], cwd=workdir, env=cli.env, ready=pids_file.exists)
    assert code == 1, err
    assert "stopping job sleeper" in err and "Traceback" not in err
    pids = [int(pid) for pid in pids_file.read_text().split()]  # the script's and its child's
    assert wait_until(lambda: not any(is_alive(pid) for pid in pids), 10), [p for p in pids if is_alive(p)]
    jobs = [json.loads(line) for line in cli("ls", "--json").out.splitlines()]
    assert [(j["name"], j["status"]) for j in jobs] == [("sleeper", "Stopped")]


def test_a_failing_script_shows_its_traceback_once_at_the_users_path(cli: Cli, workdir: Path) -> None:
    (workdir / "mine").mkdir()
    (workdir / "mine" / "train.py").write_text("print('first')\ndef f():\n    raise ValueError('bad column')\n\nf()\n")
    result = cli("fit", "--entry-point", "train.py", "--source-dir", "mine")
    assert result.code == 1
    assert result.err.count("Traceback") == 1
    assert 'File "mine/train.py", line 5' in result.err
    assert ".smtrain" not in result.err and "/jobs/" not in result.err
    assert 'ErrorMessage "ValueError: bad column"' in result.err  # the FailureReason, its traceback cut
    assert "smtrain logs train-" in result.err.splitlines()[-1]


def test_the_scripts_output_comes_before_the_final_status(cli: Cli, workdir: Path) -> None:
    (workdir / "ok").mkdir()
    (workdir / "ok" / "train.py").write_text("for i in range(50):\n    print('line', i)\n")
    result = cli("fit", "--entry-point", "train.py", "--source-dir", "ok")
    assert result.code == 0, result.err
    lines = result.err.splitlines()
    assert lines.index("line 49") < lines.index("Completed - job completed")
    assert "Preparing the instances" not in result.err and "image download" not in result.err
    assert "Training - running train.py" in result.err and "packing source ok" in result.err

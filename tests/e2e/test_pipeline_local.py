"""`smtrain pipeline` as a user runs it: export, run --local on the penguins, deploy/start/status on moto."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest

from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e

ROW = "Adelie,Torgersen,39.1,18.7,181.0,3750.0"
METRIC = "train:accuracy=train_accuracy=([0-9.]+)"


def prepare(cli: Cli) -> dict[str, object]:
    result = cli("prepare", "--json")
    assert result.code == 0, result.err
    return result.json()  # type: ignore[no-any-return]


def flags(data: dict[str, object]) -> list[str]:
    hps = [f"--hp={k}={v}" for k, v in data["hyperparameters"].items()]  # type: ignore[attr-defined]
    return ["--name", "penguins", "--entry-point", "penguins.py", "--source-dir", "entry_points",
            "--channel", f"train={data['train']}", *hps, "--metric-definition", METRIC,
            "--gate-metric", "train:accuracy", "--gate-threshold", "0.5", "--approve"]


def write_toml(workdir: Path, data: dict[str, object]) -> None:
    hps = "\n".join(f'"{k}" = "{v}"' for k, v in data["hyperparameters"].items())  # type: ignore[attr-defined]
    (workdir / "smtrain.toml").write_text(f"""
[pipeline]
name = "penguins"
entry_point = "penguins.py"
source_dir = "entry_points"
gate_metric = "train:accuracy"
gate_threshold = 0.5
approve = true

[pipeline.channel]
train = "{data['train']}"

[pipeline.hp]
{hps}

[pipeline.metric_definition]
"train:accuracy" = "train_accuracy=([0-9.]+)"
""")


def test_export_then_run_the_penguins_pipeline_locally(cli: Cli, workdir: Path) -> None:
    data = prepare(cli)
    exported = cli("pipeline", "export", *flags(data))
    assert exported.code == 0, exported.err
    definition = json.loads(exported.out)
    assert definition["States"]["Train"]["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"

    write_toml(workdir, data)  # the same options from smtrain.toml give the same document
    from_toml = cli("pipeline", "export", "-o", "penguins.asl.json", "--json")
    assert from_toml.code == 0, from_toml.err
    assert json.loads((workdir / "penguins.asl.json").read_text()) == definition
    assert from_toml.json()["path"] == "penguins.asl.json"
    assert from_toml.json()["plan"] == definition["Comment"].rpartition("plan ")[2]

    ran = cli("pipeline", "run", "--local", "--input", '{"hyperparameters": {"C": 0.25}}',
              "--execution-name", "first", "--json", timeout=300)
    assert ran.code == 0, ran.err
    assert ran.json()["status"] == "SUCCEEDED"
    for line in ("-> Train: Entered", "ok Train: Succeeded - TrainingJobName=penguins-first-train-0",
                 "ok Check threshold: Succeeded - next: Approve", "ok Deployed: Succeeded",
                 "execution first: SUCCEEDED"):
        assert line in ran.err  # state by state, as the console shows it

    status = cli("pipeline", "status", "first")  # options from smtrain.toml
    assert status.code == 0, status.err
    for line in ("up to date", "execution first: SUCCEEDED", "succeeded  Check threshold", "caught  Find endpoint",
                 "training job: penguins-first-train-0", "gate: passed (Approved)", "endpoint: penguins"):
        assert line in status.out
    record = workdir / ".smtrain" / "pipelines" / "penguins" / "first.json"
    assert record.stat().st_mode & 0o077 == 0  # it holds the execution's input: the owner's only

    [job] = cli("ls", "--json").json_lines()
    assert job["name"] == "penguins-first-train-0" and job["hyperparameters"]["C"] == 0.25
    assert [(e["name"], e["status"]) for e in job["endpoints"]] == [("penguins", "InService")]
    predicted = cli("predict", "penguins", "--body", ROW)
    assert predicted.code == 0 and json.loads(predicted.out) in (["male"], ["female"])

    again = cli("pipeline", "run", "--local", "--definition", "penguins.asl.json", "--execution-name", "second",
                timeout=300)  # the exported file itself; the endpoint is updated in place
    assert again.code == 0, again.err
    assert "ok Update endpoint: Succeeded" in again.err

    teardown = cli("teardown", "penguins")
    assert teardown.code == 0 and "Endpoint penguins" in teardown.err
    assert all(run["endpoints"] == [] for run in cli("ls", "--json").json_lines())


def test_bad_input_and_bad_documents_are_refused(cli: Cli, workdir: Path) -> None:
    data = prepare(cli)
    bad = cli("pipeline", "run", "--local", *flags(data), "--input", '{"instance_cont": 2}')
    assert bad.code == 2 and "unknown key 'instance_cont'" in bad.err and "instance_count" in bad.err
    assert "Traceback" not in bad.err
    assert cli("ls", "--json").json_lines() == []  # nothing started

    (workdir / "lambda.json").write_text(json.dumps({"StartAt": "A", "States": {"A": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f", "End": True}}}))
    refused = cli("pipeline", "run", "--local", "--definition", "lambda.json")  # no other option needed
    assert refused.code == 2 and "not supported on a Task state" in refused.err
    no_script = cli("pipeline", "export", "--name", "penguins")
    assert no_script.code == 2 and "--entry-point: no entry point given" in no_script.err

    local_deploy = cli("pipeline", "deploy", *flags(data), "--state-machine-role", "arn:aws:iam::1:role/r")
    assert local_deploy.code == 2 and "needs the sagemaker backend" in local_deploy.err

    cfn = cli("pipeline", "export", *flags(data), "--format", "cfn", "-o", "penguins.cfn.json")
    assert cfn.code == 0, cfn.err
    template = json.loads((workdir / "penguins.cfn.json").read_text())
    assert set(template["Resources"]) == {"StateMachineRole", "StateMachine"}


def test_deploy_start_and_status_on_step_functions(cli: Cli, workdir: Path, moto_url: str) -> None:
    env = dict(cli.env, AWS_ENDPOINT_URL=moto_url, AWS_ACCESS_KEY_ID="moto", AWS_SECRET_ACCESS_KEY="moto",
               AWS_REGION="us-east-1")
    aws = Cli(workdir, env)
    boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="moto",
                 aws_secret_access_key="moto").create_bucket(Bucket="pipeline-e2e")
    common = ["--backend", "sagemaker", "--bucket", "pipeline-e2e", "--role", "arn:aws:iam::123456789012:role/sm",
              "--framework-version", "1.2-1"]
    options = ["--name", "penguins", "--entry-point", "penguins.py", "--source-dir", "entry_points",
               "--channel", "train=s3://pipeline-e2e/train/", *common]
    deployed = aws("pipeline", "deploy", *options, "--state-machine-role", "arn:aws:iam::123456789012:role/sfn",
                   "--json")
    assert deployed.code == 0, deployed.err
    assert "created arn:aws:states:us-east-1:123456789012:stateMachine:penguins" in deployed.err
    assert deployed.json()["stateMachineArn"] == "arn:aws:states:us-east-1:123456789012:stateMachine:penguins"
    assert deployed.json()["created"] is True

    refused = aws("pipeline", "start", "--name", "penguins", *common[:-2], "--input", '{"instance_count": "2"}')
    assert refused.code == 2 and "instance_count must be a whole number" in refused.err
    unknown = aws("pipeline", "start", "--name", "penguins", *common[:-2], "--input", '{"instance_cont": 2}')
    assert unknown.code == 2 and "unknown key 'instance_cont'" in unknown.err
    started = aws("pipeline", "start", "--name", "penguins", *common[:-2], "--input", '{"instance_count": 2}',
                  "--execution-name", "e1", "--json")
    assert started.code == 0, started.err
    assert started.json()["executionArn"].endswith(":execution:penguins:e1")

    status = aws("pipeline", "status", *options, "e1", "--json")
    assert status.code == 0, status.err
    report = status.json()
    assert report["upToDate"] is True and report["execution"]["name"] == "e1"
    stale = aws("pipeline", "status", *options, "--hp", "C=2")
    assert stale.code == 0 and "DIFFERS from the current export" in stale.out
    updated = aws("pipeline", "deploy", *options, "--hp", "C=2", "--state-machine-role",
                  "arn:aws:iam::123456789012:role/sfn")
    assert updated.code == 0 and "updated arn:aws:states" in updated.err
    assert "up to date" in aws("pipeline", "status", *options, "--hp", "C=2").out
    assert "AWS_SECRET_ACCESS_KEY" not in os.environ  # the test never borrowed the developer's credentials

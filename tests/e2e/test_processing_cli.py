"""Processing and evaluation through the CLI on the local backend: `process`, `plan process`, `evaluate`,
`register --evaluation`, and `ls`/`show`/`logs`/`stop`/`diff`/`report` on processing jobs and evaluations.

The penguins scripts read SageMaker's /opt/ml/processing paths by default; the runs here also pass them
as arguments (which the local backend maps into the job's folder), so they pass where a private /opt/ml
mount namespace is not available too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Cli
from tests.e2e.test_cli_local import fit_args, prepare

pytestmark = pytest.mark.e2e

PREPROCESS_PATHS = ["--arg", "--input-dir", "--arg", "/opt/ml/processing/input", "--arg", "--train-dir",
                    "--arg", "/opt/ml/processing/train", "--arg", "--test-dir", "--arg", "/opt/ml/processing/test"]
EVALUATE_PATHS = ["--arg", "--model-dir", "--arg", "/opt/ml/processing/model", "--arg", "--test-dir",
                  "--arg", "/opt/ml/processing/test", "--arg", "--output-dir", "--arg", "/opt/ml/processing/evaluation"]


def raw_penguins(folder: Path) -> Path:
    from palmerpenguins import load_penguins

    folder.mkdir(parents=True, exist_ok=True)
    load_penguins().to_csv(folder / "penguins.csv", index=False)
    return folder


def test_process_runs_the_preprocess_script_and_its_outputs_are_in_the_store(cli: Cli, workdir: Path) -> None:
    raw_penguins(workdir / "raw")
    done = cli("process", "--code", "entry_points/penguins_preprocess.py",
               "--input", "raw=raw:/opt/ml/processing/input", "--output", "train=/opt/ml/processing/train",
               "--output", "test=/opt/ml/processing/test",
               *PREPROCESS_PATHS, "--arg", "--test-size", "--arg", "0.25", "--job-name", "prep-1", "--json")
    assert done.code == 0, done.err
    description = done.json()
    assert description["ProcessingJobStatus"] == "Completed"
    outputs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in description["ProcessingOutputConfig"]["Outputs"]}
    from smtrain.core.uris import to_path

    assert {p.name for p in to_path(outputs["train"]).iterdir()} == {"X_train.csv", "y_train.csv"}
    assert {p.name for p in to_path(outputs["test"]).iterdir()} == {"X_test.csv", "y_test.csv"}
    assert "rows: 344 raw, 333 clean" in done.err
    listed = cli("ls")
    assert "prep-1" in listed.out and "local processing" in listed.out
    shown = cli("show", "prep-1")
    assert shown.code == 0 and "(processing job)" in shown.out and "/opt/ml/processing/train" in shown.out
    log = cli("logs", "prep-1", "--no-follow")
    assert log.code == 0 and "rows: 344 raw" in log.out


def test_plan_process_prints_the_request_and_runs_nothing(cli: Cli, workdir: Path) -> None:
    raw_penguins(workdir / "raw")
    plan = cli("plan", "process", "--source-dir", "entry_points", "--code", "penguins_preprocess.py",
               "--input", "raw=raw", "--output", "train=/opt/ml/processing/train", "--job-name", "plan-only")
    assert plan.code == 0, plan.err
    (call,) = [step for step in plan.json() if step["type"] == "ApiCall"]
    assert call["operation"] == "CreateProcessingJob"
    assert call["params"]["AppSpecification"]["ContainerEntrypoint"] == [
        "/bin/bash", "/opt/ml/processing/input/entrypoint/runproc.sh"]
    assert "plan-only" not in cli("ls").out
    hosts = cli("plan", "process", "--code", "entry_points/penguins_preprocess.py", "--input", "raw=raw",
                "--instance-count", "2", "--sharded", "raw", "--job-name", "plan-hosts")
    assert hosts.code == 0, hosts.err
    (call,) = [step for step in hosts.json() if step["type"] == "ApiCall"]
    assert call["params"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2
    raw = next(i for i in call["params"]["ProcessingInputs"] if i["InputName"] == "raw")
    assert raw["S3Input"]["S3DataDistributionType"] == "ShardedByS3Key"
    unknown = cli("plan", "process", "--code", "entry_points/penguins_preprocess.py", "--sharded", "nope")
    assert unknown.code == 2 and "--sharded" in unknown.err and "Traceback" not in unknown.err


def test_stop_ends_a_running_processing_job(cli: Cli, workdir: Path) -> None:
    (workdir / "slow.py").write_text("import time\nprint('working', flush=True)\ntime.sleep(120)\n")
    started = cli("process", "--code", "slow.py", "--job-name", "slow-1", "--no-wait",
                  "--framework-version", "current")
    assert started.code == 0, started.err
    from tests.helpers import wait_until

    assert wait_until(lambda: "working" in cli("logs", "slow-1", "--no-follow").out, 60)
    stopped = cli("stop", "slow-1")
    assert stopped.code == 0, stopped.err
    assert wait_until(lambda: "Stopped" in cli("show", "slow-1").out, 60)


def test_evaluate_register_show_diff_and_the_gate(cli: Cli, workdir: Path) -> None:
    data = prepare(cli)
    for job in ("trained-1", "trained-2"):
        fit = cli(*fit_args(data, "--job-name", job))
        assert fit.code == 0, fit.err
    done = cli("evaluate", "trained-1", "--code", "entry_points/penguins_evaluate.py", "--input",
               "test=data/penguins/test", *EVALUATE_PATHS, "--job-name", "eval-1")
    assert done.code == 0, done.err
    assert "accuracy = 0." in done.err and "--evaluation eval-1" in done.err

    registered = cli("register", "trained-1", "--group", "penguins", "--evaluation", "eval-1", "--json")
    assert registered.code == 0, registered.err
    statistics = registered.json()["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json" and statistics["S3Uri"].endswith("eval-1/output/"
                                                                                              "evaluation/evaluation.json")
    shown = cli("show", "trained-1")
    assert "evaluation   eval-1" in shown.out and "evaluation:accuracy = 0." in shown.out
    assert "accuracy = " in cli("show", "eval-1").out

    # trained-2 tested on labels turned around: it trains as well as trained-1 but tests badly.
    flipped = workdir / "flipped"
    flipped.mkdir()
    (flipped / "X_test.csv").write_text((workdir / "data/penguins/test/X_test.csv").read_text())
    labels = (workdir / "data/penguins/test/y_test.csv").read_text().splitlines()
    swap = {"male": "female", "female": "male"}
    (flipped / "y_test.csv").write_text("\n".join([labels[0], *(swap.get(v, v) for v in labels[1:])]) + "\n")
    bad = cli("evaluate", "trained-2", "--code", "entry_points/penguins_evaluate.py", "--input", "test=flipped",
              *EVALUATE_PATHS, "--job-name", "eval-2")
    assert bad.code == 0, bad.err
    diff = cli("diff", "trained-1", "trained-2")
    assert diff.code == 0 and "evaluation:accuracy" in diff.out
    evaluations = cli("diff", "eval-1", "eval-2")  # processing jobs are compared too
    assert evaluations.code == 0 and "evaluation:accuracy" in evaluations.out and "test=" not in evaluations.err
    passes = cli("report", "trained-1", "--gate", "evaluation:accuracy>=0.8")
    assert passes.code == 0, passes.err
    gated = cli("report", "trained-2", "--gate", "evaluation:accuracy>=0.8")
    assert gated.code != 0 and "gate FAILED: evaluation:accuracy>=0.8" in gated.err

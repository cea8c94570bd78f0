"""MLflow logging never reports a half-logged run as logged.

Before: an invalid parameter or tag name left an MLflow run RUNNING with no params, and the next log call
found it by its ``smtrain.job`` tag and said "logged". Now names are checked before a run is created, and a
run whose logging fails part-way is ended FAILED and reported as not logged.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

from smtrain.api.session import Session
from smtrain.runs import mlflow_log
from tests.e2e.conftest import Cli

SCRIPT = """\
import os
print("loss=0.5")
print("loss=nan")
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("m")
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store in maintenance mode
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "train.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_", "MLFLOW_"))}
    env.update(SMTRAIN_HOME=str(project / ".smtrain"), MLFLOW_TRACKING_URI=(tmp_path / "mlruns").as_uri(),
               MLFLOW_ALLOW_FILE_STORE="true")
    return Cli(project, env)


def fit(cli: Cli, name: str, *extra: str) -> Any:
    return cli("fit", "--entry-point", "train.py", "--source-dir", "src", "--channel", "train=src",
               "--job-name", name, "--metric-definition", r"loss=loss=(\S+)", *extra)


def mlflow_runs(cli: Cli) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(cli.env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("smtrain")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


@pytest.mark.parametrize(("flag", "value", "kind", "name"), [
    ("--hp", "bad$name=1", "parameter", "bad$name"),
    ("--tag", "team+x=ml", "tag", "team+x"),
])
def test_a_name_mlflow_refuses_creates_no_mlflow_run(cli: Cli, flag: str, value: str, kind: str, name: str) -> None:
    result = fit(cli, "refused", flag, value)
    assert result.code == 0, result.err  # the job itself is not affected
    assert "logged to MLflow as run" not in result.err
    assert (f"warning: not logged to MLflow: MLflow logging: MLflow would refuse 1 name(s), so no MLflow run was "
            f"created: {kind} {name!r}: Names may only contain alphanumerics") in result.err, result.err
    assert mlflow_runs(cli) == []
    listed = cli("ls", "--json")
    assert listed.code == 0 and '"status": "Completed"' in listed.out


def test_a_run_that_fails_part_way_is_ended_failed_and_not_reported_as_logged(
        cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    result = fit(cli, "flaky", "--hp", "C=0.5")
    assert result.code == 0, result.err
    (first,) = mlflow_runs(cli)  # logged by fit, with the nan metric as MLflow stores it
    assert first.info.status == "FINISHED" and first.data.params == {"C": "0.5"}
    for key, value in cli.env.items():
        if key.startswith("MLFLOW_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "second")
    config = Session(quiet=True, home=cli.env["SMTRAIN_HOME"]).config

    def broken(*_: Any, **__: Any) -> None:
        raise MlflowException("the tracking server went away")

    said: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "log_batch", broken)
        assert mlflow_log.log_finished_run(config, "flaky", said.append) == ""
    client = MlflowClient(cli.env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("second").experiment_id
    (failed,) = client.search_runs([experiment])
    assert failed.info.status == "FAILED" and failed.data.params == {}
    assert said == [f"warning: not logged to MLflow: MlflowException: the tracking server went away "
                    f"(MLflow run {failed.info.run_id} was ended FAILED)"]

    said.clear()
    again = mlflow_log.log_finished_run(config, "flaky", said.append)  # the FAILED run does not count as logged
    assert again and again != failed.info.run_id and said == [f"logged to MLflow as run {again}"]
    logged = client.get_run(again)
    assert logged.info.status == "FINISHED" and logged.data.params == {"C": "0.5"}
    assert logged.data.tags["smtrain.logged"] == "true"
    values = [m.value for m in client.get_metric_history(again, "loss")]
    assert len(values) == 2 and values[0] == 0.5 and math.isnan(values[1])  # nan is logged as MLflow stores it
    assert mlflow_log.log_finished_run(config, "flaky", said.append) == again  # logged once

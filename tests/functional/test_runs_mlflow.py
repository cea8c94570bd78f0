"""Optional MLflow logging of finished runs, against a file-store tracking URI."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtrain.api.session import Session
from smtrain.core.errors import UsageError
from smtrain.runs import mlflow_log
from smtrain.runs.record import Run
from tests.functional.test_runs_local import fit, git, project

__all__ = ["project"]  # the fixture, shared with test_runs_local


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    pytest.importorskip("mlflow")
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store in maintenance mode
    return uri


def test_a_finished_run_is_logged_once(project: Path, tracking: str) -> None:
    from mlflow import MlflowClient

    fit(project, "tracked", hyperparameters={"C": 0.5}, tags={"team": "ml"})
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("smtrain")
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.info.run_name == "tracked" and logged.info.status == "FINISHED"
    assert logged.data.params == {"C": "0.5"}
    tags = logged.data.tags
    assert tags["mlflow.source.git.commit"] == git(project, "rev-parse", "HEAD")
    assert tags["smtrain.job_arn"].endswith(":training-job/tracked") and tags["team"] == "ml"
    assert tags["smtrain.model_uri"].endswith("model.tar.gz") and tags["smtrain.image"]
    loss = client.get_metric_history(logged.info.run_id, "loss")
    assert [(m.step, m.value) for m in loss] == [(0, 0.9), (1, 0.5), (2, 0.25)]

    session = Session(quiet=True, home=str(project / ".smtrain"))
    again = mlflow_log.log_finished_run(session.config, "tracked", lambda _: None)
    assert again == logged.info.run_id
    assert len(client.search_runs([experiment.experiment_id])) == 1


def test_a_sagemaker_tracking_server_needs_its_plugin() -> None:
    pytest.importorskip("mlflow")
    try:
        import sagemaker_mlflow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("sagemaker-mlflow is installed")
    run = Run(name="j", backend="sagemaker", status="Completed")
    with pytest.raises(UsageError, match="needs a plugin") as caught:
        mlflow_log.log_run(run, [], "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/t")
    assert caught.value.hint == "pip install sagemaker-mlflow"


def test_nothing_happens_without_a_tracking_uri(project: Path) -> None:
    assert not mlflow_log.enabled()
    session = Session(quiet=True, home=str(project / ".smtrain"))
    assert mlflow_log.log_finished_run(session.config, "never-ran", lambda _: None) == ""

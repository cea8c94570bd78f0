"""Run records of the local backend: git commit, versions, tags, metric history; read-only listing."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from smtrain.api.session import Session
from smtrain.backends.local.store import reader
from smtrain.runs import local, provenance, store
from tests.helpers import git, git_project

SCRIPT = """\
import os
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
    f.write("fitted")
for epoch, loss in enumerate([0.9, 0.5, 0.25]):
    print(f"epoch={epoch} loss={loss}")
print("accuracy=0.875")
"""
METRICS = {"loss": r"loss=([0-9.]+)", "accuracy": r"accuracy=([0-9.]+)"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return git_project(tmp_path / "project", SCRIPT)


def fit(root: Path, name: str, **extra: object) -> None:
    session = Session(quiet=True, home=str(root / ".smtrain"))
    job = session.fit("train.py", source_dir=root / "src", channels={"train": str(root / "data")},
                      job_name=name, metric_definitions=METRICS, **extra)
    assert job.status == "Completed", job.failure_reason


def test_a_run_records_git_versions_tags_and_metric_history(project: Path) -> None:
    commit = git(project, "rev-parse", "HEAD")
    fit(project, "clean", tags={"team": "ml"}, hyperparameters={"C": 0.5})
    (project / "src" / "train.py").write_text(SCRIPT + "# edited\n")
    fit(project, "dirty")

    runs = {r.name: r for r in local.list_runs(project / ".smtrain")[0]}
    clean, dirty = runs["clean"], runs["dirty"]
    assert clean.git_commit == commit and not clean.git_dirty
    assert dirty.git_commit == commit and dirty.git_dirty
    assert clean.tags[provenance.GIT_BRANCH] == "main"
    assert clean.user_tags == {"team": "ml"} and dirty.user_tags == {}
    assert clean.tags[provenance.VERSION] and clean.tags[provenance.PYTHON]
    assert {"python", "scikit-learn", "numpy"} <= set(local.get_run(project / ".smtrain", "clean").versions)
    assert clean.hyperparameters == {"C": 0.5}
    assert clean.metrics == {"loss": 0.25, "accuracy": 0.875}

    history = local.metric_history(project / ".smtrain", "clean")
    assert [(p["MetricName"], p["Value"]) for p in history] == [
        ("loss", 0.9), ("loss", 0.5), ("loss", 0.25), ("accuracy", 0.875)]
    stamps = [p["Timestamp"] for p in history]
    assert stamps == sorted(stamps)


def test_the_tags_reach_the_create_request(project: Path) -> None:
    session = Session(quiet=True, home=str(project / ".smtrain"))
    spec = session.training_spec("train.py", source_dir=project / "src", channels={"train": str(project / "data")},
                                 tags={"team": "ml"})
    request = next(s for s in session.plan_fit(spec) if getattr(s, "operation", "") == "CreateTrainingJob")
    tags = {t["Key"]: t["Value"] for t in request.params["Tags"]}  # type: ignore[union-attr]
    assert tags["smtrain:managed"] == "true" and tags["team"] == "ml"
    assert tags[provenance.GIT_COMMIT] == git(project, "rev-parse", "HEAD")


def test_reading_never_creates_a_store(tmp_path: Path) -> None:
    home = tmp_path / "nothing-here"
    assert local.list_runs(home) == ([], 0) and local.get_run(home, "x") is None
    assert not home.exists()


def test_listing_survives_a_history_line_cut_short(project: Path) -> None:
    fit(project, "cut")
    path = project / ".smtrain" / "jobs" / "cut" / reader.HISTORY_FILE
    path.write_text(path.read_text() + textwrap.dedent('{"MetricName": "lo'))
    assert len(local.metric_history(project / ".smtrain", "cut")) == 4
    from smtrain.core.config import load_config

    config = load_config(environ={}, cwd=project / "src")
    assert [r.name for r in store.list_runs(config, "local")[0]] == ["cut"]
    assert json.dumps(store.get_run(config, "cut").to_json(), default=str)


def test_python_api_gives_notebook_frames(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fit(project, "one", hyperparameters={"C": 0.5}, tags={"team": "ml"})
    fit(project, "two", hyperparameters={"C": 2})
    session = Session(quiet=True, home=str(project / ".smtrain"))
    frame = session.runs(sort="C")
    assert list(frame["run"]) == ["two", "one"]
    assert list(frame["params.C"]) == [2, 0.5] and list(frame["metrics.accuracy"]) == [0.875, 0.875]
    assert frame.loc[frame["run"] == "one", "tags.team"].item() == "ml"
    assert list(session.runs(tags="team=ml")["run"]) == ["one"]
    assert session.runs(where="accuracy>0.9").empty

    job = session.job("one")
    assert job.hyperparameters == {"C": 0.5}
    history = job.metrics
    assert list(history.columns) == ["metric", "step", "value", "timestamp"]
    assert list(history[history["metric"] == "loss"]["value"]) == [0.9, 0.5, 0.25]
    assert list(history[history["metric"] == "loss"]["step"]) == [0, 1, 2]
    assert job.logs().status == "Completed"


def test_champion_is_the_newest_approved_package(project: Path, tmp_path: Path) -> None:
    from smtrain.core.errors import NotFoundError
    from smtrain.runs import baseline
    from smtrain.runs.charts import plot, sparkline

    fit(project, "old", hyperparameters={"C": 1})
    fit(project, "new", hyperparameters={"C": 2})
    session = Session(quiet=True, home=str(project / ".smtrain"))
    config = session.config
    with pytest.raises(NotFoundError, match="penguins"):
        baseline.resolve(config, "champion", store.get_run(config, "new"), group="penguins")
    session.register("old", group="penguins", approve=True)
    session.register("new", group="penguins")  # pending: not a champion
    champion = baseline.resolve(config, "champion", store.get_run(config, "new"), group="penguins")
    assert champion.name == "old" and champion.source_uri  # the full record

    history = local.metric_history(project / ".smtrain", "old")
    assert sparkline([p["Value"] for p in history if p["MetricName"] == "loss"]) == "█▄▁"
    pytest.importorskip("matplotlib")
    chart = plot(history, tmp_path / "chart.png", "old")
    assert chart.read_bytes().startswith(b"\x89PNG")

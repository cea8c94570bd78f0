"""`pipeline run --local` executes the batch step (createTransformJob.sync) of an exported definition."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import smtrain
from smtrain.pipeline.build import export, pipeline_spec
from smtrain.pipeline.spec import Gate
from tests.conftest import REPO
from tests.functional.test_pipeline_local import run
from tests.pipeline_examples import HYPERPARAMETERS, METRIC


@pytest.fixture
def session(home: Path) -> Iterator[smtrain.Session]:
    session = smtrain.Session(quiet=True)
    yield session
    for endpoint in session.list_endpoints():
        session.teardown(endpoint["EndpointName"])


def batch_pipeline(session: smtrain.Session, tmp_path: Path, *, endpoint: bool) -> tuple[object, Path]:
    data = session.prepare(out_dir=tmp_path / "data", progress=False)
    rows = (tmp_path / "data" / "test" / "X_test.csv").read_text().splitlines()[1:]
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "rows.csv").write_text("\n".join(rows) + "\n")
    spec = pipeline_spec(
        session, name="penguins", entry_point="penguins.py",
        fit={"source_dir": REPO / "entry_points", "channels": {"train": data.train_uri},
             "hyperparameters": HYPERPARAMETERS, "metric_definitions": {METRIC: r"train_accuracy=([0-9.]+)"}},
        group="penguins", approve=True, deploy={}, gate=Gate(METRIC, 0.5), timeout_seconds=3600,
        transform_input=str(batch), endpoint=endpoint)
    return export(session, spec), batch


def test_the_batch_step_runs_after_the_gate_instead_of_an_endpoint(session: smtrain.Session, tmp_path: Path) -> None:
    exported, batch = batch_pipeline(session, tmp_path, endpoint=False)
    execution = run(session, exported, name="b1")  # type: ignore[arg-type]
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    visited = [e.state for e in execution.history if e.kind == "Succeeded"]
    assert visited[-3:] == ["Create model", "Transform", "Transformed"]
    job = session.transform_job("penguins-b1-transform-0")
    assert job.status == "Completed" and job.description["ModelName"] == "penguins-b1-model"
    labels = job.output()[0]
    assert len(labels) == len((batch / "rows.csv").read_text().splitlines()) and set(labels) <= {"male", "female"}
    assert execution.output["transform"]["S3OutputPath"] == job.output_uri
    assert session.list_endpoints() == []


def test_the_batch_step_and_the_endpoint_with_the_input_overridden(session: smtrain.Session, tmp_path: Path) -> None:
    exported, batch = batch_pipeline(session, tmp_path, endpoint=True)
    other = tmp_path / "other.csv"
    other.write_text((batch / "rows.csv").read_text().splitlines()[0] + "\n")
    execution = run(session, exported, {"transform_input": other.as_uri()}, name="b2")  # type: ignore[arg-type]
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    visited = [e.state for e in execution.history if e.kind == "Succeeded"]
    assert visited.index("Transform") < visited.index("Create endpoint config") and visited[-1] == "Deployed"
    assert len(session.transform_job("penguins-b2-transform-0").output()) == 1
    assert session.endpoint("penguins").status == "InService"

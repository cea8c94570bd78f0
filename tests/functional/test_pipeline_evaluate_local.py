"""`pipeline run --local` with an Evaluate step: the exported document runs train -> evaluate -> register on the
local backend; the evaluation is a real processing job over the trained model, and the package carries its
evaluation.json as ModelMetrics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import smtrain
from smtrain.api.evaluation import package_metrics
from smtrain.pipeline.build import export
from smtrain.pipeline.evaluation import evaluation_spec
from smtrain.pipeline.spec import Gate
from tests.conftest import REPO
from tests.functional.test_pipeline_local import run
from tests.pipeline_examples import penguins

PATHS = ["--model-dir", "/opt/ml/processing/model", "--test-dir", "/opt/ml/processing/test",
         "--output-dir", "/opt/ml/processing/evaluation"]


@pytest.fixture
def session(home: Path) -> Iterator[smtrain.Session]:
    session = smtrain.Session(quiet=True)
    yield session
    for endpoint in session.list_endpoints():
        session.teardown(endpoint["EndpointName"])


def test_the_pipeline_evaluates_and_registers_the_evaluation(session: smtrain.Session, tmp_path: Path) -> None:
    data = session.prepare(out_dir=tmp_path / "data", progress=False)
    plain = penguins(session, channel=data.train_uri, root="", gate=Gate())
    spec = replace(plain.spec, evaluation=evaluation_spec(
        session, plain.spec.name, str(REPO / "entry_points/penguins_evaluate.py"), [f"test={data.test_uri}"], PATHS))
    execution = run(session, export(session, spec))
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    visited = [e.state for e in execution.history if e.kind == "Succeeded"]
    assert visited.index("Train") < visited.index("Evaluate") < visited.index("Register")
    evaluation = session.processing_job("penguins-e1-eval-0")
    assert evaluation.status == "Completed"
    assert session.evaluation(evaluation.name)["accuracy"] > 0.5
    client = session.backend.sagemaker()
    package = client.describe_model_package(ModelPackageName=execution.output["package"]["ModelPackageArn"])
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith("/penguins-e1/evaluation/"
                                                                                   "evaluation.json")
    assert package_metrics(session.backend, package) == session.evaluation(evaluation.name)


def test_preprocess_train_evaluate_register_locally(session: smtrain.Session, tmp_path: Path) -> None:
    from palmerpenguins import load_penguins

    from smtrain.pipeline.preprocess import PLACEHOLDER, preprocess_spec

    raw = tmp_path / "raw"
    raw.mkdir()
    load_penguins().to_csv(raw / "penguins.csv", index=False)
    folders = ["--input-dir", "/opt/ml/processing/input", "--train-dir", "/opt/ml/processing/train",
               "--test-dir", "/opt/ml/processing/test"]
    prep = preprocess_spec(session, "penguins", str(REPO / "entry_points/penguins_preprocess.py"),
                           [f"raw={raw}:/opt/ml/processing/input"],
                           ["train=/opt/ml/processing/train", "test=/opt/ml/processing/test"], folders)
    plain = penguins(session, channel=f"{PLACEHOLDER}train/", root="", gate=Gate(), hyperparameters={})
    spec = replace(plain.spec, preprocess=prep, evaluation=evaluation_spec(
        session, "penguins", str(REPO / "entry_points/penguins_evaluate.py"), [f"test={PLACEHOLDER}test/"], PATHS))
    execution = run(session, export(session, spec), name="e2")
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    visited = [e.state for e in execution.history if e.kind == "Succeeded"]
    assert visited.index("Preprocess") < visited.index("Train") < visited.index("Evaluate")
    training = session.job("penguins-e2-train-0").description
    assert training["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].endswith("/penguins-e2/preprocess/"
                                                                                           "train")
    assert session.evaluation("penguins-e2-eval-0")["accuracy"] > 0.9

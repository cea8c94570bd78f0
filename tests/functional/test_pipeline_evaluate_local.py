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
from tests.pipeline_examples import penguins, penguins_spec

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


def flipped_labels(test_dir: Path, target: Path) -> Path:
    """The held-out data with every label swapped: a model that trains well tests badly on it."""
    import shutil

    import pandas as pd

    shutil.copytree(test_dir, target)
    labels = pd.read_csv(target / "y_test.csv")
    column = labels.columns[0]
    labels[column] = labels[column].map({"male": "female", "female": "male"})
    labels.to_csv(target / "y_test.csv", index=False)
    return target


def test_the_gate_on_test_accuracy_stops_a_model_that_trains_well_but_tests_badly(session: smtrain.Session,
                                                                                  tmp_path: Path) -> None:
    from smtrain.core.uris import to_path

    data = session.prepare(out_dir=tmp_path / "data", progress=False)
    plain = penguins_spec(session, channel=data.train_uri, gate=Gate("evaluation:accuracy", 0.8))
    bad = flipped_labels(to_path(data.test_uri), tmp_path / "flipped")
    verdicts = {}
    for name, test_data in (("good", data.test_uri), ("bad", str(bad))):
        spec = replace(plain, evaluation=evaluation_spec(
            session, plain.name, str(REPO / "entry_points/penguins_evaluate.py"), [f"test={test_data}"], PATHS))
        execution = run(session, export(session, spec), name=name)
        assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
        final = session.job(f"penguins-{name}-train-0").description["FinalMetricDataList"]
        assert {m["MetricName"]: m["Value"] for m in final}["train:accuracy"] > 0.8  # both train well
        package = session.backend.sagemaker().describe_model_package(
            ModelPackageName=execution.output["package"]["ModelPackageArn"])
        verdicts[name] = (package["ModelApprovalStatus"], execution.output["metric"]["value"],
                          [e.state for e in execution.history if e.kind == "Succeeded"][-1])
    assert verdicts["good"][0] == "Approved" and verdicts["good"][1] > 0.8 and verdicts["good"][2] != "Not deployed"
    assert verdicts["bad"][0] == "Rejected" and verdicts["bad"][1] < 0.5 and verdicts["bad"][2] == "Not deployed"


def test_a_report_without_the_gate_metric_fails_the_execution_saying_so(session: smtrain.Session,
                                                                         tmp_path: Path) -> None:
    data = session.prepare(out_dir=tmp_path / "data", progress=False)
    plain = penguins_spec(session, channel=data.train_uri, gate=Gate("evaluation:roc_auc", 0.8))
    spec = replace(plain, evaluation=evaluation_spec(
        session, plain.name, str(REPO / "entry_points/penguins_evaluate.py"), [f"test={data.test_uri}"], PATHS))
    execution = run(session, export(session, spec), name="noauc")
    assert execution.status == "FAILED"
    assert execution.error == "MetricMissing" and "roc_auc" in execution.cause

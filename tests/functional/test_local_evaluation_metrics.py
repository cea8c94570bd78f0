"""The local registry keeps a package's ModelMetrics; `models` shows its evaluation metrics next to training's."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from smtrain import Session
from smtrain.api.models import list_versions
from smtrain.cli import cli
from smtrain.planning.evaluation import model_metrics

SPEC = {"Containers": [{"Image": "local", "ModelDataUrl": "file:///nowhere/model.tar.gz"}],
        "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["application/json"]}


def registered(tmp_path: Path, report: str | None) -> Session:
    session = Session(home=str(tmp_path / "home"), quiet=True)
    registry = session.backend.sagemaker()
    registry.create_model_package_group(ModelPackageGroupName="penguins")
    uri = (tmp_path / "evaluation.json").as_uri()
    if report is not None:
        (tmp_path / "evaluation.json").write_text(report)
    registry.create_model_package(ModelPackageGroupName="penguins", InferenceSpecification=SPEC,
                                  ModelMetrics=model_metrics(uri))
    return session


def test_local_registry_returns_the_model_metrics_it_was_given(tmp_path: Path) -> None:
    session = registered(tmp_path, json.dumps({"multiclass_classification_metrics": {"accuracy": {"value": 0.5}}}))
    described = session.backend.sagemaker().describe_model_package(ModelPackageName="penguins/1")
    assert described["ModelMetrics"] == model_metrics((tmp_path / "evaluation.json").as_uri())


def test_models_shows_evaluation_metrics(tmp_path: Path) -> None:
    report = {"multiclass_classification_metrics": {"accuracy": {"value": 0.25, "standard_deviation": "NaN"}}}
    session = registered(tmp_path, json.dumps(report))
    (version,) = list_versions(session.backend, "penguins")
    assert version["EvaluationMetrics"] == {"accuracy": 0.25}
    shown = CliRunner().invoke(cli, ["models", "penguins", "--home", str(tmp_path / "home")])
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[0].endswith("\tevaluation:accuracy=0.25")


def test_a_report_that_is_gone_or_broken_lists_without_evaluation_metrics(tmp_path: Path) -> None:
    for number, report in enumerate((None, "not json", "{}")):
        session = registered(tmp_path / str(number), report)
        (version,) = list_versions(session.backend, "penguins")
        assert version["EvaluationMetrics"] == {}

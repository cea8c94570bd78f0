"""sm.transform(...) on the local backend: from a job, a registered version or a tuning job; .output() reads back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import smtrain
from smtrain.core.errors import ArgumentError, JobFailedError
from tests.conftest import REPO


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("transform-api")


@pytest.fixture(scope="module")
def fitted(project: Path) -> tuple[smtrain.Session, str, Path]:
    root = project
    shutil.copytree(REPO / "entry_points", root / "entry_points")
    sm = smtrain.Session(home=str(root / ".smtrain"), quiet=True)
    data = sm.prepare(out_dir=root / "data")
    job = sm.fit("penguins.py", source_dir=root / "entry_points", channels={"train": data.train_uri},
                 hyperparameters=data.hyperparameters(), job_name="penguins-api")
    X_test, _ = data.test_set()
    batch = root / "batch"
    batch.mkdir()
    X_test.head(20).to_csv(batch / "part-1.csv", header=False, index=False)
    X_test.iloc[20:30].to_csv(batch / "part-2.csv", header=False, index=False)
    return sm, job.name, batch


def test_output_reads_the_predictions_back_in_input_order(fitted: tuple[smtrain.Session, str, Path]) -> None:
    sm, job, batch = fitted
    transform = sm.transform(job, input=str(batch), job_name="api-1")
    frame = transform.output()
    assert len(frame) == 30 and set(frame[0]) <= {"male", "female"}
    assert transform.output(raw=True).decode().splitlines() == list(frame[0])
    joined = transform.output(join_input=True)
    assert list(joined.columns[:2]) == [0, 1] and joined.iloc[0, 0] in ("Adelie", "Chinstrap", "Gentoo")
    assert list(joined["output_0"]) == list(frame[0])
    assert sm.transform_job("api-1").status == "Completed"


def test_a_registered_version_and_a_tuning_jobs_best_are_sources(fitted: tuple[smtrain.Session, str, Path]) -> None:
    sm, job, batch = fitted
    package = sm.register(job, group="penguins-api")
    transform = sm.transform("penguins-api/1", input=str(batch / "part-2.csv"), job_name="api-2",
                             strategy="SingleRecord", max_concurrent=2)
    assert len(transform.output()) == 10
    assert transform.description["ModelName"] == "api-2"
    by_arn = sm.transform(package["ModelPackageArn"], input=str(batch / "part-2.csv"), job_name="api-arn")
    assert by_arn.output().equals(transform.output())
    tuner = sm.tune("penguins.py", source_dir=batch.parent / "entry_points",
                    channels={"train": (batch.parent / "data" / "train").as_uri()},
                    hyperparameters={k: v for k, v in sm.job(job).hyperparameters.items()},
                    metric_definitions={"train_accuracy": "train_accuracy=([0-9.]+)"},
                    ranges={"C": "continuous:0.1:1"}, objective="train_accuracy", max_jobs=1, strategy="Random",
                    job_name="api-tune")
    best = tuner.best_job.name
    transform = sm.transform("api-tune", input=str(batch / "part-1.csv"), job_name="api-3")
    assert len(transform.output()) == 20
    model = sm.backend.sagemaker().describe_model(ModelName="api-3")  # type: ignore[attr-defined]
    assert f"/{best}/" in model["PrimaryContainer"]["ModelDataUrl"]


def test_bad_arguments_are_named_in_python(fitted: tuple[smtrain.Session, str, Path]) -> None:
    sm, job, batch = fitted
    with pytest.raises(ArgumentError) as bad:
        sm.transform(job, input=str(batch), max_payload_mb=200)
    assert bad.value.argument == "max_payload_mb"
    with pytest.raises(ArgumentError) as bad:
        sm.transform(job, input=str(batch), split_type="Lines")
    assert bad.value.argument == "split_type"


def test_a_job_the_model_rejects_raises_with_the_record(fitted: tuple[smtrain.Session, str, Path],
                                                        tmp_path: Path) -> None:
    sm, job, _ = fitted
    (tmp_path / "bad.csv").write_text("Adelie,Torgersen,39.1,18.7,181.0,3750.0\nnot,a,penguin\n")
    with pytest.raises(JobFailedError) as failed:
        sm.transform(job, input=str(tmp_path / "bad.csv"), job_name="api-bad", strategy="SingleRecord")
    assert "bad.csv, record 2" in failed.value.what


def test_a_job_the_service_refuses_leaves_no_model_behind(fitted: tuple[smtrain.Session, str, Path]) -> None:
    from smtrain.core.errors import SmtrainError

    sm, job, batch = fitted
    with pytest.raises(SmtrainError) as refused:
        sm.transform(job, input=str(batch), output_uri="s3://bucket/out/", job_name="api-refused")
    assert "file:// URIs or paths" in str(refused.value)
    models = [m["ModelName"] for m in sm.backend.sagemaker().list_models()["Models"]]  # type: ignore[attr-defined]
    assert "api-refused" not in models

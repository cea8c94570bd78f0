"""Evaluation reports: where a processing job wrote evaluation.json, what it says, and ModelMetrics."""

from __future__ import annotations

import pytest

from smtrain.core.errors import UsageError
from smtrain.planning.evaluation import metrics_of, model_metrics, report_uri
from smtrain.planning.model_package import plan_register
from smtrain.planning.steps import ApiCall

JOB = {"TrainingJobName": "job-1", "TrainingJobStatus": "Completed",
       "ModelArtifacts": {"S3ModelArtifacts": "s3://bucket/job-1/output/model.tar.gz"},
       "HyperParameters": {"sagemaker_program": '"penguins.py"',
                           "sagemaker_submit_directory": '"s3://bucket/job-1/source/sourcedir.tar.gz"'}}


def evaluation_job(status: str = "Completed", outputs: list | None = None) -> dict:
    if outputs is None:
        outputs = [{"OutputName": "evaluation",
                    "S3Output": {"S3Uri": "s3://bucket/eval-1/evaluation/",
                                 "LocalPath": "/opt/ml/processing/evaluation", "S3UploadMode": "EndOfJob"}}]
    return {"ProcessingJobName": "eval-1", "ProcessingJobStatus": status,
            "ProcessingOutputConfig": {"Outputs": outputs}}


def test_report_uri_is_evaluation_json_under_the_evaluation_output() -> None:
    assert report_uri(evaluation_job()) == "s3://bucket/eval-1/evaluation/evaluation.json"


@pytest.mark.parametrize("description, says", [
    (evaluation_job(status="Failed"), "eval-1 is Failed, not Completed"),
    (evaluation_job(status="InProgress"), "eval-1 is InProgress"),
    (evaluation_job(outputs=[]), "no output named 'evaluation'"),
    (evaluation_job(outputs=[{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/t"}}]), "no output named"),
])
def test_report_uri_refuses_a_job_without_a_report(description: dict, says: str) -> None:
    with pytest.raises(UsageError, match=says) as caught:
        report_uri(description, where="register --evaluation")
    assert caught.value.hint


def test_model_metrics_is_model_quality_statistics_in_json() -> None:
    assert model_metrics("s3://b/e/evaluation.json") == {
        "Bias": {}, "Explainability": {}, "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/e/evaluation.json"}}}


def test_register_carries_model_metrics_only_when_given() -> None:
    def package(plan: tuple) -> dict:
        return next(s.params for s in plan if isinstance(s, ApiCall) and s.operation == "CreateModelPackage")

    plain = plan_register(JOB, group="g", approve=False, image_uri="img", region="us-east-1")
    assert "ModelMetrics" not in package(plain)
    metrics = model_metrics("s3://b/e/evaluation.json")
    with_metrics = plan_register(JOB, group="g", approve=False, image_uri="img", region="us-east-1",
                                 model_metrics=metrics)
    assert package(with_metrics)["ModelMetrics"] == metrics
    assert {k: v for k, v in package(with_metrics).items() if k != "ModelMetrics"} == package(plain)


def test_metrics_of_reads_every_model_monitor_section() -> None:
    report = {
        "multiclass_classification_metrics": {
            "accuracy": {"value": 0.9, "standard_deviation": "NaN"},
            "confusion_matrix": {"a": {"a": 3}},
        },
        "regression_metrics": {"mse": {"value": 2, "standard_deviation": 0.1}},
        "metrics": {"weighted_f1": {"value": 0.5}},
        "version": 0.0,
    }
    assert metrics_of(report) == {"accuracy": 0.9, "mse": 2.0, "weighted_f1": 0.5}


@pytest.mark.parametrize("report", [
    [], {}, {"metrics": {"accuracy": {"value": "high"}}}, {"other": {"a": {"value": 1}}}])
def test_metrics_of_refuses_a_report_without_metrics(report: object) -> None:
    with pytest.raises(UsageError, match=r"evaluation\.json"):
        metrics_of(report)


def test_evaluation_io_gives_the_model_and_test_set_and_collects_the_report() -> None:
    import botocore.session
    from botocore.validate import ParamValidator

    from smtrain.planning.evaluation import evaluation_io

    inputs, outputs = evaluation_io(JOB, "s3://bucket/data/test", "s3://bucket/eval-1/evaluation")
    assert [(i["InputName"], i["S3Input"]["S3Uri"], i["S3Input"]["LocalPath"]) for i in inputs] == [
        ("model", "s3://bucket/job-1/output/model.tar.gz", "/opt/ml/processing/model"),
        ("test", "s3://bucket/data/test", "/opt/ml/processing/test")]
    description = {"ProcessingJobName": "eval-1", "ProcessingJobStatus": "Completed",
                   "ProcessingOutputConfig": outputs}
    assert report_uri(description) == "s3://bucket/eval-1/evaluation/evaluation.json"
    # every field is CreateProcessingJob's own
    model = botocore.session.get_session().get_service_model("sagemaker")
    request = model.operation_model("CreateProcessingJob").input_shape.members
    for shape, value in ((request["ProcessingInputs"], inputs), (request["ProcessingOutputConfig"], outputs)):
        report = ParamValidator().validate(value, shape)
        assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("job", [
    {**JOB, "TrainingJobStatus": "Failed"}, {"TrainingJobName": "job-1", "TrainingJobStatus": "Completed"}])
def test_evaluation_io_refuses_a_job_without_a_model(job: dict) -> None:
    from smtrain.planning.evaluation import evaluation_io

    with pytest.raises(UsageError, match="no model to evaluate"):
        evaluation_io(job, "s3://b/test", "s3://b/eval")

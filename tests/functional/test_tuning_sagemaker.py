"""`tune` on the sagemaker backend against a moto server: the source uploaded, the tuning job created with
the planned request; and the progress shown while it waits (a scripted DescribeHyperParameterTuningJob
sequence). Deploy and register of a tuning job (its best trial): test_sagemaker_serving_image.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from smtrain.api.session import Session
from smtrain.execution.executor import Reporter
from smtrain.execution.tuning import follow_tuning
from tests.helpers import reset_moto

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield moto_url
    reset_moto(moto_url)


def test_tune_creates_the_planned_tuning_job(aws: str, tmp_path: Path) -> None:
    sm = Session(quiet=True, backend="sagemaker", region=REGION, role=ROLE, home=str(tmp_path / ".smtrain"))
    spec = sm.tuning_spec("penguins.py", source_dir=REPO / "entry_points",
                          channels={"train": "s3://data-bucket/train/"}, hyperparameters={"target": "sex"},
                          metric_definitions={"acc": "acc=([0-9.]+)"}, objective="acc",
                          ranges={"C": "continuous:0.01:10:log"}, max_jobs=3, max_parallel=2, job_name="moto-tune")
    planned = next(step for step in sm.plan_tune(spec)
                   if getattr(step, "operation", "") == "CreateHyperParameterTuningJob")
    tuner = sm.tune("penguins.py", source_dir=REPO / "entry_points", channels={"train": "s3://data-bucket/train/"},
                    hyperparameters={"target": "sex"}, metric_definitions={"acc": "acc=([0-9.]+)"}, objective="acc",
                    ranges={"C": "continuous:0.01:10:log"}, max_jobs=3, max_parallel=2, job_name="moto-tune",
                    wait=False)
    described = boto3.client("sagemaker", region_name=REGION).describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="moto-tune")
    assert tuner.name == "moto-tune"
    assert described["HyperParameterTuningJobConfig"] == planned.params["HyperParameterTuningJobConfig"]
    static = described["TrainingJobDefinition"]["StaticHyperParameters"]
    source = static["sagemaker_submit_directory"].strip('"')
    bucket, key = source.removeprefix("s3://").split("/", 1)
    assert boto3.client("s3", region_name=REGION).head_object(Bucket=bucket, Key=key)["ContentLength"] > 0


class ScriptedBackend:
    """Answers DescribeHyperParameterTuningJob from a list, one per poll (as a tuning job moves on)."""

    name = "sagemaker"
    runs_here = False
    poll_seconds = 0.0

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = answers

    def sagemaker(self) -> Any:
        backend = self

        class Client:
            def describe_hyper_parameter_tuning_job(self, **_: Any) -> dict[str, Any]:
                return backend.answers.pop(0) if len(backend.answers) > 1 else backend.answers[0]

        return Client()

    def sleep(self, seconds: float) -> None:
        pass


def answer(status: str, completed: int, failed: int, running: int, best: float | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "HyperParameterTuningJobName": "t", "HyperParameterTuningJobStatus": status,
        "TrainingJobStatusCounters": {"Completed": completed, "InProgress": running, "RetryableError": 0,
                                      "NonRetryableError": failed, "Stopped": 0},
    }
    if best is not None:
        body["BestTrainingJob"] = {"TrainingJobName": "t-002-0123abcd", "FinalHyperParameterTuningJobObjectiveMetric":
                                   {"MetricName": "acc", "Value": best}}
    return body


def test_progress_shows_completed_failed_running_and_the_best_so_far() -> None:
    lines: list[str] = []

    class Lines(Reporter):
        def info(self, message: str) -> None:
            lines.append(message)

    backend = ScriptedBackend([answer("InProgress", 0, 0, 2), answer("InProgress", 0, 0, 2),
                               answer("InProgress", 1, 1, 2, 0.9), answer("Completed", 3, 1, 0, 0.95)])
    final = follow_tuning(backend, "t", Lines())  # type: ignore[arg-type]
    assert final["HyperParameterTuningJobStatus"] == "Completed"
    assert lines == [
        "InProgress: 0 completed, 0 failed, 2 running",
        "InProgress: 1 completed, 1 failed, 2 running; best acc 0.9 (t-002-0123abcd)",
        "Completed: 3 completed, 1 failed, 0 running; best acc 0.95 (t-002-0123abcd)",
    ]

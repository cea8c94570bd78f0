"""The local runner executes the exported document against the local backend."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import smtrain
from smtrain.pipeline.build import Exported, run_uploads
from smtrain.pipeline.objects import StoreObjects
from smtrain.pipeline.runner import Execution, Runner
from smtrain.pipeline.spec import Gate
from tests.conftest import REPO
from tests.pipeline_examples import HYPERPARAMETERS, penguins

ROW = "Adelie,Torgersen,39.1,18.7,181.0,3750.0"


@pytest.fixture
def session(home: Path) -> Iterator[smtrain.Session]:
    session = smtrain.Session(quiet=True)
    yield session
    for endpoint in session.list_endpoints():  # no endpoint server outlives a test, even a failed one
        session.teardown(endpoint["EndpointName"])


@pytest.fixture
def train_uri(session: smtrain.Session, tmp_path: Path) -> str:
    return session.prepare(out_dir=tmp_path / "data", progress=False).train_uri


def run(session: smtrain.Session, exported: Exported, execution_input: dict[str, Any] | None = None, *,
        name: str = "e1", client: Any = None) -> Execution:
    run_uploads(session, exported.uploads)
    runner = Runner(exported.definition, client or session.backend.sagemaker(), max_wait_seconds=0.2,
                    objects=StoreObjects(session.config.home / "store"))
    return runner.run(execution_input or {}, name=name)


def resources(session: smtrain.Session) -> dict[str, list[str]]:
    client = session.backend.sagemaker()
    return {"models": [m["ModelName"] for m in client.list_models()["Models"]],
            "configs": [c["EndpointConfigName"] for c in client.list_endpoint_configs()["EndpointConfigs"]],
            "endpoints": [e["EndpointName"] for e in client.list_endpoints()["Endpoints"]]}


def test_penguins_end_to_end_with_a_hyperparameter_override(session: smtrain.Session, train_uri: str) -> None:
    exported = penguins(session, channel=train_uri, root="", gate=Gate("train:accuracy", 0.5, champion=True))
    execution = run(session, exported, {"hyperparameters": {"C": 0.25, "max-iter": 200}, "threshold": 0.6})
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    visited = [e.state for e in execution.history if e.kind == "Succeeded"]
    assert visited[-1] == "Deployed" and "Check threshold" in visited and "Create endpoint" in visited

    job = session.job("penguins-e1-train-0").description
    planned = session.plan_fit(session.training_spec(
        "penguins.py", source_dir=REPO / "entry_points", channels={"train": train_uri}, job_name="plan",
        hyperparameters={**HYPERPARAMETERS, "C": 0.25, "max-iter": 200}))
    expected = next(step.params for step in planned if getattr(step, "operation", "") == "CreateTrainingJob")
    for key in ("C", "max-iter", "target"):  # the override, encoded exactly as `plan fit` writes it
        assert job["HyperParameters"][key] == expected["HyperParameters"][key]
    assert job["HyperParameters"]["C"] == "0.25" and job["HyperParameters"]["target"] == '"sex"'
    client = session.backend.sagemaker()
    package = client.describe_model_package(ModelPackageName=execution.output["package"]["ModelPackageArn"])
    assert (package["ModelApprovalStatus"], package["ModelPackageStatus"]) == ("Approved", "Completed")
    assert "Check package" in visited and visited.index("Check package") < visited.index("Create model")
    model = client.describe_model(ModelName="penguins-e1-model")
    assert model["PrimaryContainer"]["Image"] == job["AlgorithmSpecification"]["TrainingImage"]
    assert session.endpoint("penguins").status == "InService"
    assert_expiry_tag(session, "penguins")
    assert session.predict("penguins", ROW) in (["male"], ["female"])

    again = run(session, exported, name="e2")  # the champion now exists, and the endpoint is updated
    assert again.status == "SUCCEEDED", (again.error, again.cause)
    states = [e.state for e in again.history]
    assert "Describe champion" in states and "Update endpoint" in states
    assert resources(session) == {"models": ["penguins-e2-model"], "configs": ["penguins-e2-config"],
                                  "endpoints": ["penguins"]}
    assert session.predict("penguins", ROW) in (["male"], ["female"])
    session.teardown("penguins")
    assert resources(session) == {"models": [], "configs": [], "endpoints": []}


def assert_expiry_tag(session: smtrain.Session, endpoint: str) -> None:
    """The pipeline tags its endpoint as `deploy --ttl` does, so `teardown --expired` finds it when it is due."""
    import datetime as dt

    from smtrain.api.teardown import endpoint_tags, select_endpoints

    [described] = [e for e in session.list_endpoints() if e["EndpointName"] == endpoint]
    expires = endpoint_tags(session, described)["smtrain:expires-at"]
    expires_at = dt.datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert select_endpoints(session, expired_only=True, now=expires_at - dt.timedelta(seconds=1)) == []
    assert select_endpoints(session, expired_only=True, now=expires_at) == [endpoint]


def test_a_failing_training_job_takes_the_failure_path(session: smtrain.Session, train_uri: str,
                                                      tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "train.py").write_text("raise SystemExit('the data is not what I expected')\n")
    exported = penguins(session, channel=train_uri, root="", gate=Gate(), source_dir=broken,
                        entry_point="train.py")
    execution = run(session, exported)
    assert execution.status == "FAILED"
    assert execution.error == "States.TaskFailed"
    assert json.loads(execution.cause)["TrainingJobStatus"] == "Failed"
    states = [e.state for e in execution.history]
    assert states.index("Clean up") > states.index("Train")
    assert "Model created?" in states and "Delete model" not in states  # it created nothing, so deletes nothing
    assert "Delete endpoint" not in states
    assert resources(session) == {"models": [], "configs": [], "endpoints": []}


def test_the_gate_stops_a_worse_model(session: smtrain.Session, train_uri: str) -> None:
    exported = penguins(session, channel=train_uri, root="", gate=Gate("train:accuracy", 0.5))
    execution = run(session, exported, {"threshold": 1.5})  # no accuracy reaches 1.5
    assert execution.status == "SUCCEEDED"
    assert [e.state for e in execution.history if e.kind == "Succeeded"][-1] == "Not deployed"
    package = session.backend.sagemaker().describe_model_package(
        ModelPackageName=execution.output["package"]["ModelPackageArn"])
    assert package["ModelApprovalStatus"] == "Rejected"
    assert resources(session) == {"models": [], "configs": [], "endpoints": []}


class Throttled:
    """The local client, but the first CreateTrainingJob is throttled."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.names: list[str] = []

    def create_training_job(self, **request: Any) -> Any:
        from botocore.exceptions import ClientError

        self.names.append(request["TrainingJobName"])
        if len(self.names) == 1:
            self.client.create_training_job(**request)  # it even got created: the retry must not reuse the name
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                              "CreateTrainingJob")  # Step Functions reports SageMaker.AmazonSageMakerException
        return self.client.create_training_job(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_retried_step_gets_a_fresh_name(session: smtrain.Session, train_uri: str) -> None:
    exported = penguins(session, channel=train_uri, root="", gate=Gate())
    client = Throttled(session.backend.sagemaker())
    execution = run(session, exported, client=client)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert client.names == ["penguins-e1-train-0", "penguins-e1-train-1"]
    assert execution.output["training"]["TrainingJobName"] == "penguins-e1-train-1"
    assert any(e.kind == "Retrying" and e.state == "Train" and "SageMaker.AmazonSageMakerException" in e.detail
               for e in execution.history)
    deadline = time.monotonic() + 120
    while session.job("penguins-e1-train-0").status == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.2)  # the abandoned first attempt runs on; let it end before the test does


BAD_SERVING = """
import os

if __name__ == "__main__":
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as handle:
        handle.write("trained")
    print("train_accuracy=0.99")


def model_fn(model_dir):
    raise RuntimeError("this model cannot be loaded")
"""


def test_a_failed_update_leaves_the_previous_endpoint_serving(session: smtrain.Session, train_uri: str,
                                                              tmp_path: Path) -> None:
    first = run(session, penguins(session, channel=train_uri, root="", gate=Gate()), name="good")
    assert first.status == "SUCCEEDED", (first.error, first.cause)
    source = tmp_path / "bad-serving"
    source.mkdir()
    (source / "serve.py").write_text(BAD_SERVING)
    bad = penguins(session, channel=train_uri, root="", gate=Gate(), source_dir=source, entry_point="serve.py",
                   hyperparameters={})
    second = run(session, bad, name="bad")
    assert second.status == "FAILED" and second.error == "UpdateRolledBack"
    states = [e.state for e in second.history]
    assert "Update endpoint" in states and "Delete endpoint" not in states
    endpoint = session.backend.sagemaker().describe_endpoint(EndpointName="penguins")
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", "penguins-good-config")
    assert session.predict("penguins", ROW) in (["male"], ["female"])  # still the first model
    assert resources(session) == {"models": ["penguins-good-model"], "configs": ["penguins-good-config"],
                                  "endpoints": ["penguins"]}

"""A pipeline never touches what it did not create (B1).

Two executions racing to one endpoint, a reused execution name, and an error at "Find endpoint"
other than not-found: in each, whatever another execution (or the user) made is left as it is.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import smtrain
from smtrain.core.config import Config
from smtrain.pipeline.build import run_uploads
from smtrain.pipeline.export import export_definition
from smtrain.pipeline.runner import Execution, Runner
from smtrain.pipeline.spec import Gate
from tests.e2e.conftest import Cli, cli, workdir  # noqa: F401  (fixtures)
from tests.e2e.test_pipeline_local import flags as pipeline_flags
from tests.e2e.test_pipeline_local import prepare
from tests.functional.test_pipeline_local import ROW, resources, session, train_uri  # noqa: F401  (fixtures)
from tests.pipeline_examples import penguins


class MeetAtFindEndpoint:
    """The local client, but the first DescribeEndpoint (Find endpoint) waits until both executions made it:
    both miss the endpoint, as two executions started together do."""

    def __init__(self, client: Any, barrier: threading.Barrier) -> None:
        self.client, self.barrier, self.met = client, barrier, False

    def describe_endpoint(self, **request: Any) -> Any:
        try:
            return self.client.describe_endpoint(**request)
        finally:
            if not self.met:
                self.met = True
                self.barrier.wait()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_two_executions_racing_to_one_endpoint_leave_exactly_one_serving(session: smtrain.Session,  # noqa: F811
                                                                        train_uri: str) -> None:  # noqa: F811
    exported = penguins(session, channel=train_uri, root="", gate=Gate())
    run_uploads(session, exported.uploads)
    barrier = threading.Barrier(2, timeout=300)
    executions: dict[str, Execution] = {}

    def execute(name: str) -> None:
        client = MeetAtFindEndpoint(session.backend.sagemaker(), barrier)
        executions[name] = Runner(exported.definition, client, max_wait_seconds=0.2).run({}, name=name)

    threads = [threading.Thread(target=execute, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert sorted(executions) == ["a", "b"]
    outcomes = sorted((e.status, e.error) for e in executions.values())
    assert outcomes == [("FAILED", "EndpointConflict"), ("SUCCEEDED", "")], [(e.error, e.cause) for e in
                                                                             executions.values()]
    [winner] = [n for n, e in executions.items() if e.status == "SUCCEEDED"]
    [loser] = [e for e in executions.values() if e.status == "FAILED"]
    assert "endpoint penguins was created by another execution while this one ran" in loser.cause
    loser_states = [e.state for e in loser.history]
    assert "Delete endpoint" not in loser_states and "Check own endpoint" not in loser_states
    endpoint = session.backend.sagemaker().describe_endpoint(EndpointName="penguins")
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", f"penguins-{winner}-config")
    assert resources(session) == {"models": [f"penguins-{winner}-model"], "configs": [f"penguins-{winner}-config"],
                                  "endpoints": ["penguins"]}  # the loser removed only its own model and config
    assert session.predict("penguins", ROW) in (["male"], ["female"])


def test_a_reused_execution_name_is_refused_and_the_first_runs_resources_stay(cli: Cli,  # noqa: F811
                                                                              workdir: Path) -> None:  # noqa: F811
    flags = ["pipeline", "run", "--local", *pipeline_flags(prepare(cli)), "--execution-name", "e1"]
    first = cli(*flags, timeout=600)
    assert first.code == 0, first.err
    again = cli(*flags, timeout=600)
    assert again.code == 2, again.err
    assert "ExecutionAlreadyExists: pipeline 'penguins' already has an execution named 'e1'" in again.err
    assert "unexpected" not in again.err and "Traceback" not in again.err
    status = cli("pipeline", "status", "--name", "penguins", "e1", "--json").json()
    assert status["execution"]["status"] == "SUCCEEDED"  # the first run's record is not overwritten
    client = local_client(Path(cli.env["SMTRAIN_HOME"]))
    assert client.describe_endpoint(EndpointName="penguins")["EndpointConfigName"] == "penguins-e1-config"
    assert client.describe_model(ModelName="penguins-e1-model")["ModelName"] == "penguins-e1-model"
    predicted = cli("predict", "penguins", "--body", ROW)
    assert predicted.code == 0, predicted.err


def local_client(home: Path) -> Any:
    from smtrain.backends.local.service import LocalSageMaker
    from smtrain.backends.local.store.home import LocalHome

    return LocalSageMaker(LocalHome(home))


# -- against moto: what AWS would answer --------------------------------------------------------------------

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def moto_client(url: str) -> Any:
    return boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1", aws_access_key_id="moto",
                        aws_secret_access_key="moto")


class DeniedDescribe:
    """DescribeEndpoint is denied (a role without the permission, an SCP): not the same as not found."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def describe_endpoint(self, **request: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException",
                                     "Message": "User is not authorized to perform: sagemaker:DescribeEndpoint"}},
                          "DescribeEndpoint")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.fixture
def definition(home: Path) -> dict[str, Any]:
    local = penguins(smtrain.Session(quiet=True), gate=Gate())
    return export_definition(local.spec, Config(backend="sagemaker", region="us-east-1"), root="s3://bucket/smtrain",
                             image_uri=IMAGE, role="arn:aws:iam::123456789012:role/SageMakerRole")


def test_any_other_error_at_find_endpoint_fails_without_touching_the_endpoint(definition: dict[str, Any],
                                                                             moto_url: str) -> None:
    sagemaker = moto_client(moto_url)
    sagemaker.create_model(ModelName="theirs", ExecutionRoleArn="arn:aws:iam::123456789012:role/R",
                           PrimaryContainer={"Image": IMAGE})
    sagemaker.create_endpoint_config(EndpointConfigName="theirs", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "theirs", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1}])
    sagemaker.create_endpoint(EndpointName="penguins", EndpointConfigName="theirs")
    execution = Runner(definition, DeniedDescribe(sagemaker), sleep=lambda seconds: None).run({}, name="denied")
    assert (execution.status, execution.error) == ("FAILED", "SageMaker.SageMakerException")
    assert "not authorized" in execution.cause
    states = [e.state for e in execution.history]
    assert "Lookup failed" in states
    assert not {"Create endpoint", "Update endpoint", "Delete endpoint", "Check own endpoint"} & set(states)
    assert sagemaker.describe_endpoint(EndpointName="penguins")["EndpointConfigName"] == "theirs"
    assert sagemaker.describe_model(ModelName="theirs")["ModelName"] == "theirs"
    names = {m["ModelName"] for m in sagemaker.list_models()["Models"]}
    assert "penguins-denied-model" in names  # nothing is deleted when the lookup fails, not even its own model
    assert "Clean up" not in states
    sagemaker.delete_endpoint(EndpointName="penguins")

"""The same runner against a moto server: botocore validates every Task; Step Functions accepts the definition."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

import smtrain
from smtrain.core.config import Config
from smtrain.pipeline.build import Exported
from smtrain.pipeline.export import export_definition
from smtrain.pipeline.runner import Runner
from smtrain.pipeline.spec import Gate
from tests.pipeline_examples import penguins

ROLE = "arn:aws:iam::123456789012:role/smtrain-sfn"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def client(url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="moto",
                        aws_secret_access_key="moto")


@pytest.fixture
def exported(home: Path) -> Exported:
    """Exported for SageMaker (instance types, image, role), with no AWS call: the exporter is pure."""
    local = penguins(smtrain.Session(quiet=True), gate=Gate())  # moto records no metrics, so no gate here
    config = Config(backend="sagemaker", region="us-east-1")
    definition = export_definition(local.spec, config, root="s3://bucket/smtrain", image_uri=IMAGE,
                                   role="arn:aws:iam::123456789012:role/SageMakerRole")
    return replace(local, definition=definition)


def runner(exported: Exported, url: str) -> Runner:
    return Runner(exported.definition, client(url, "sagemaker"), sleep=lambda seconds: None)


def test_the_runner_runs_the_definition_against_moto(exported: Exported, moto_url: str) -> None:
    execution = runner(exported, moto_url).run({"hyperparameters": {"C": 2, "kernel": "rbf"}, "instance_count": 2},
                                                name="moto-ok")
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    sagemaker = client(moto_url, "sagemaker")
    job = sagemaker.describe_training_job(TrainingJobName="penguins-moto-ok-train-0")
    assert (job["HyperParameters"]["C"], job["HyperParameters"]["kernel"]) == ("2", '"rbf"')  # as `fit` encodes
    assert job["HyperParameters"]["sagemaker_job_name"] == '"moto-ok"'
    assert job["ResourceConfig"]["InstanceCount"] == 2
    endpoint = sagemaker.describe_endpoint(EndpointName="penguins")
    assert endpoint["EndpointConfigName"] == "penguins-moto-ok-config"
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tags["smtrain:expires-at"])  # as `deploy --ttl`
    sagemaker.delete_endpoint(EndpointName="penguins")


def test_botocore_catches_a_misspelt_parameter_that_cfn_lint_cannot(exported: Exported, moto_url: str) -> None:
    parameters = exported.definition["States"]["Create model"]["Parameters"]
    parameters["ExecutionRoleArnn"] = parameters.pop("ExecutionRoleArn")
    execution = runner(exported, moto_url).run({}, name="moto-typo")
    assert execution.status == "FAILED"
    assert "ExecutionRoleArnn" in execution.cause and "Unknown parameter" in execution.cause
    states = [e.state for e in execution.history]
    assert "Clean up" in states  # the failure path ran
    assert "Delete model" not in states  # CreateModel failed: there is no model of this execution to delete


def test_moto_accepts_create_state_machine_and_start_execution(exported: Exported, moto_url: str) -> None:
    sfn = client(moto_url, "stepfunctions")
    created = sfn.create_state_machine(name="penguins", definition=json.dumps(exported.definition), roleArn=ROLE)
    started = sfn.start_execution(stateMachineArn=created["stateMachineArn"], name="first",
                                  input=json.dumps({"instance_type": "ml.m5.xlarge"}))
    described = sfn.describe_execution(executionArn=started["executionArn"])
    assert described["status"] in ("RUNNING", "SUCCEEDED", "FAILED")
    deployed = json.loads(sfn.describe_state_machine(stateMachineArn=created["stateMachineArn"])["definition"])
    assert deployed == exported.definition
    sfn.delete_state_machine(stateMachineArn=created["stateMachineArn"])


def test_preprocess_train_evaluate_and_a_gate_on_test_accuracy_run_against_moto(moto_url: str, home: Path,
                                                                               tmp_path: Path) -> None:
    """Every step's request is validated by botocore and recorded by moto; the gate reads evaluation.json from
    S3 itself (moto runs no script, so the test puts the report where the Evaluate step writes it)."""
    from smtrain.pipeline.evaluation import evaluation_spec
    from smtrain.pipeline.objects import S3Objects
    from smtrain.pipeline.preprocess import PLACEHOLDER, preprocess_spec
    from tests.conftest import REPO
    from tests.pipeline_examples import penguins_spec

    session = smtrain.Session(quiet=True)
    code = REPO / "entry_points"
    prep = preprocess_spec(session, "penguins", str(code / "penguins_preprocess.py"),
                           ["raw=s3://bucket/raw/:/opt/ml/processing/input"],
                           ["train=/opt/ml/processing/train", "test=/opt/ml/processing/test"], [])
    plain = penguins_spec(session, channel=f"{PLACEHOLDER}train/", gate=Gate("evaluation:accuracy", 0.8),
                          hyperparameters={})
    spec = replace(plain, preprocess=prep, evaluation=evaluation_spec(
        session, "penguins", str(code / "penguins_evaluate.py"), [f"test={PLACEHOLDER}test/"], []))
    definition = export_definition(spec, Config(backend="sagemaker", region="us-east-1"),
                                   root="s3://bucket/smtrain", image_uri=IMAGE,
                                   role="arn:aws:iam::123456789012:role/SageMakerRole")
    s3 = client(moto_url, "s3")
    s3.create_bucket(Bucket="bucket")
    verdicts = {}
    for name, accuracy in (("moto-pass", 0.95), ("moto-fail", 0.4)):
        s3.put_object(Bucket="bucket", Key=f"smtrain/penguins-{name}/evaluation/evaluation.json",
                      Body=json.dumps({"multiclass_classification_metrics": {"accuracy": {"value": accuracy}}}))
        execution = Runner(definition, client(moto_url, "sagemaker"), sleep=lambda seconds: None,
                           objects=S3Objects(s3)).run({}, name=name)
        assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
        visited = [e.state for e in execution.history if e.kind == "Succeeded"]
        assert visited.index("Preprocess") < visited.index("Train") < visited.index("Evaluate") \
            < visited.index("Has metric")
        verdicts[name] = (execution.output["metric"]["value"], visited[-1])
    assert verdicts["moto-pass"][0] == 0.95 and verdicts["moto-pass"][1] != "Not deployed"
    assert verdicts["moto-fail"] == (0.4, "Not deployed")
    sagemaker = client(moto_url, "sagemaker")
    evaluation = sagemaker.describe_processing_job(ProcessingJobName="penguins-moto-pass-eval-0")
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in evaluation["ProcessingInputs"]}
    assert inputs["test"] == "s3://bucket/smtrain/penguins-moto-pass/preprocess/test"
    training = sagemaker.describe_training_job(TrainingJobName="penguins-moto-pass-train-0")
    assert training["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == \
        "s3://bucket/smtrain/penguins-moto-pass/preprocess/train"
    sagemaker.delete_endpoint(EndpointName="penguins")

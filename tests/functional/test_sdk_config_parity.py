"""config.yaml defaults: smtrain's requests against SDK v2's own, captured with the same two files.

tests/fixtures/sdk_config/sdk_v2_requests.json was written by tests/fixtures/sdk_config/capture.py
(SKLearn(...).fit() and SKLearnModel(...).deploy() against moto, sagemaker 2.257.7, with admin.yaml as
SAGEMAKER_ADMIN_CONFIG_OVERRIDE and user.yaml as SAGEMAKER_USER_CONFIG_OVERRIDE).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smtrain.api.session import Session
from smtrain.core.config import Config
from smtrain.core.sdk_config import load_sdk_defaults
from smtrain.planning.plan import plan_deploy
from smtrain.planning.spec import DeploySpec
from smtrain.planning.steps import ApiCall

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sdk_config"
SDK = json.loads((FIXTURES / "sdk_v2_requests.json").read_text())
REGION = "eu-west-1"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
# What config.yaml sets in each request: these must equal the SDK's.
TRAINING_KEYS = ("RoleArn", "VpcConfig", "EnableInterContainerTrafficEncryption", "Environment", "Tags")
MODEL_KEYS = ("ExecutionRoleArn", "VpcConfig", "EnableNetworkIsolation", "Tags")


@pytest.fixture
def org_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SAGEMAKER_ADMIN_CONFIG_OVERRIDE", str(FIXTURES / "admin.yaml"))
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(FIXTURES / "user.yaml"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def calls(plan: Any) -> dict[str, ApiCall]:
    return {step.operation: step for step in plan if isinstance(step, ApiCall)}


def test_fit_takes_the_same_defaults_as_sdk_v2(org_files: None, tmp_path: Path) -> None:
    session = Session(backend="sagemaker", region=REGION, quiet=True)  # no role: config.yaml's RoleArn
    spec = session.training_spec("train.py", source_dir=FIXTURES / "source", channels={"train": "s3://data-bucket/train/"},
                                 hyperparameters={"n_estimators": 8}, job_name="job-1", framework_version="1.2-1",
                                 instance_type="ml.m5.large", tags={})
    call = calls(session.plan_fit(spec))["CreateTrainingJob"]
    ours, sdk = call.params, SDK["CreateTrainingJob"]
    for key in TRAINING_KEYS[:-1]:
        assert ours[key] == sdk[key], key
    assert [tag for tag in ours["Tags"] if tag["Key"] in {"team", "cost-centre"}] == sdk["Tags"]
    assert ours["OutputDataConfig"]["KmsKeyId"] == sdk["OutputDataConfig"]["KmsKeyId"]
    assert ours["ResourceConfig"]["VolumeKmsKeyId"] == sdk["ResourceConfig"]["VolumeKmsKeyId"]
    # The bucket and the key prefix of the Session block: where the SDK puts the output and the source.
    assert ours["OutputDataConfig"]["S3OutputPath"].startswith(sdk["OutputDataConfig"]["S3OutputPath"])
    assert json.loads(ours["HyperParameters"]["sagemaker_submit_directory"]).startswith("s3://org-bucket/org-prefix/job-1/")
    assert any(note.startswith("VpcConfig from SageMaker.TrainingJob.VpcConfig (") for note in call.notes)
    assert any("user.yaml" in note for note in call.notes if note.startswith("Environment"))


def test_deploy_takes_the_same_defaults_as_sdk_v2(org_files: None) -> None:
    config = Config(backend="sagemaker", region=REGION)
    plan = plan_deploy(DeploySpec(job_name="endpoint-1", instance_type="ml.m5.large"), config, image_uri=IMAGE,
                       role="arn:aws:iam::123456789012:role/service-role/OrgTrainingRole",
                       model_data="s3://data-bucket/model/model.tar.gz", program="train.py",
                       submit_directory="s3://org-bucket/org-prefix/endpoint-1/sourcedir.tar.gz",
                       sdk=load_sdk_defaults())
    found = calls(plan)
    model, sdk_model = found["CreateModel"].params, SDK["CreateModel"]
    for key in MODEL_KEYS:
        assert model[key] == sdk_model[key] or key == "Tags", key
    assert [t for t in model["Tags"] if t["Key"] == "cost-centre"] == sdk_model["Tags"]
    assert model["PrimaryContainer"]["Environment"]["ORG_SERVING"] == "admin"
    endpoint_config, sdk_config = found["CreateEndpointConfig"].params, SDK["CreateEndpointConfig"]
    assert endpoint_config["KmsKeyId"] == sdk_config["KmsKeyId"]
    assert [t for t in endpoint_config["Tags"] if t["Key"] == "cost-centre"] == sdk_config["Tags"]
    assert [t for t in found["CreateEndpoint"].params["Tags"] if t["Key"] == "cost-centre"] == \
        SDK["CreateEndpoint"]["Tags"]


def test_flags_and_settings_win_over_config_yaml(org_files: None) -> None:
    session = Session(backend="sagemaker", region=REGION, role="arn:aws:iam::123456789012:role/Mine",
                      bucket="my-bucket", prefix="mine", quiet=True)
    boto3.client("s3", region_name=REGION)
    spec = session.training_spec("train.py", source_dir=FIXTURES / "source", channels={}, job_name="job-2",
                                 environment={"ORG": "flag"}, subnets=("subnet-flag",), security_groups=("sg-flag",),
                                 output_kms_key="flag-key", tags={"team": "flag-team"})
    ours = calls(session.plan_fit(spec))["CreateTrainingJob"].params
    assert ours["RoleArn"] == "arn:aws:iam::123456789012:role/Mine"
    assert ours["Environment"] == {"ORG": "flag"}  # given: the file's Environment is not merged in (as the SDK)
    assert ours["VpcConfig"] == {"Subnets": ["subnet-flag"], "SecurityGroupIds": ["sg-flag"]}
    assert ours["OutputDataConfig"] == {"S3OutputPath": "s3://my-bucket/mine/output/", "KmsKeyId": "flag-key"}
    assert {"Key": "team", "Value": "flag-team"} in ours["Tags"]
    assert {"Key": "team", "Value": "user-team"} not in ours["Tags"]


def test_the_local_backend_keeps_its_role_and_store(org_files: None, tmp_path: Path) -> None:
    session = Session(backend="local", home=str(tmp_path / "home"), quiet=True)
    spec = session.training_spec("train.py", source_dir=FIXTURES / "source", channels={}, job_name="job-3")
    ours = calls(session.plan_fit(spec))["CreateTrainingJob"].params
    assert ours["RoleArn"].endswith(":role/smtrain-local")
    assert ours["OutputDataConfig"]["S3OutputPath"].startswith("file://")
    assert ours["Environment"] == {"ORG": "user", "ADMIN_ONLY": "yes"}
    assert "VolumeKmsKeyId" not in ours["ResourceConfig"]  # a local instance has no EBS volume (as the SDK drops it)


def test_plan_shows_what_came_from_config_yaml(org_files: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from smtrain.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["plan", "fit", "--backend", "sagemaker", "--region", REGION, "--entry-point", "train.py",
              "--source-dir", str(FIXTURES / "source"), "--job-name", "job-1", "--framework-version", "1.2-1"])
    out, err = capsys.readouterr()
    assert exited.value.code == 0, err
    training = next(step for step in json.loads(out) if step.get("operation") == "CreateTrainingJob")
    assert "VpcConfig from SageMaker.TrainingJob.VpcConfig (" + str(FIXTURES / "admin.yaml") + ")" in training["notes"]
    assert f"note: CreateTrainingJob Environment from SageMaker.TrainingJob.Environment ({FIXTURES / 'user.yaml'})" \
        in err


def test_fit_says_what_came_from_config_yaml(org_files: None) -> None:
    from smtrain.execution.executor import QuietReporter

    class Notes(QuietReporter):
        said: list[str] = []

        def info(self, message: str) -> None:
            self.said.append(message)

    from smtrain.api.session import report_notes

    session = Session(backend="sagemaker", region=REGION, quiet=True)
    spec = session.training_spec("train.py", source_dir=FIXTURES / "source", channels={}, job_name="job-4")
    reporter = Notes()
    report_notes(session.plan_fit(spec), reporter)
    assert f"note: CreateTrainingJob VpcConfig from SageMaker.TrainingJob.VpcConfig ({FIXTURES / 'admin.yaml'})" \
        in reporter.said

"""The role, bucket and region found as the SDK finds them (moto in process, a fake resource-metadata.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smtrain.aws.discovery import findings
from smtrain.aws.roles import discover_role
from smtrain.aws.session import AwsSession
from smtrain.backends.sagemaker import SageMakerBackend
from smtrain.core.config import load_config
from smtrain.core.errors import UsageError

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
SERVICE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/AmazonSageMaker-ExecutionRole-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("iam", region_name=REGION).create_role(
            RoleName="AmazonSageMaker-ExecutionRole-1", Path="/service-role/", AssumeRolePolicyDocument=TRUST)
        yield


def metadata(tmp_path: Path, **fields: str) -> Path:
    path = tmp_path / "resource-metadata.json"
    path.write_text(json.dumps(fields))
    return path


def assumed_session() -> AwsSession:
    """Credentials of the role itself, as on a notebook instance: STS answers an assumed-role ARN."""
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=SERVICE_ROLE, RoleSessionName="SageMaker")["Credentials"]
    boto = boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"], region_name=REGION)
    return AwsSession(region=REGION, boto_session=boto)


def test_execution_role_arn_in_the_metadata_file_comes_first(aws: None, tmp_path: Path) -> None:
    path = metadata(tmp_path, ExecutionRoleArn="arn:aws:iam::111122223333:role/FromStudio", DomainId="d-1")
    found = discover_role(AwsSession(region=REGION), path)
    assert found.value == "arn:aws:iam::111122223333:role/FromStudio"
    assert found.source == f"ExecutionRoleArn in {path}"


def test_a_notebook_instance_is_described_when_there_is_no_domain(aws: None, tmp_path: Path) -> None:
    boto3.client("sagemaker", region_name=REGION).create_notebook_instance(
        NotebookInstanceName="my-notebook", InstanceType="ml.t3.medium", RoleArn=SERVICE_ROLE)
    found = discover_role(AwsSession(region=REGION), metadata(tmp_path, ResourceName="my-notebook"))
    assert found.value == SERVICE_ROLE
    assert found.source.startswith("DescribeNotebookInstance my-notebook")


def test_a_studio_user_profile_without_a_role_falls_back_to_the_domain(aws: None, tmp_path: Path) -> None:
    from botocore.stub import Stubber

    session = AwsSession(region=REGION)
    with Stubber(session.client("sagemaker")) as stub:  # moto has no user profiles
        stub.add_response("describe_user_profile", {"UserSettings": {}},
                          {"DomainId": "d-abc", "UserProfileName": "alice"})
        stub.add_response("describe_domain", {"DefaultUserSettings": {"ExecutionRole": SERVICE_ROLE}},
                          {"DomainId": "d-abc"})
        found = discover_role(session, metadata(tmp_path, DomainId="d-abc", UserProfileName="alice"))
    assert (found.value, found.source.split(" (")[0]) == (SERVICE_ROLE, "DescribeDomain d-abc")


def test_a_studio_user_profiles_own_role_wins(aws: None, tmp_path: Path) -> None:
    from botocore.stub import Stubber

    session = AwsSession(region=REGION)
    with Stubber(session.client("sagemaker")) as stub:
        stub.add_response("describe_user_profile", {"UserSettings": {"ExecutionRole": "arn:aws:iam::1:role/Alice"}},
                          {"DomainId": "d-abc", "UserProfileName": "alice"})
        found = discover_role(session, metadata(tmp_path, DomainId="d-abc", UserProfileName="alice"))
    assert found.value == "arn:aws:iam::1:role/Alice" and found.source.startswith("DescribeUserProfile d-abc/alice")


def test_outside_sagemaker_the_assumed_role_becomes_its_iam_arn_with_its_path(aws: None, tmp_path: Path) -> None:
    found = discover_role(assumed_session(), tmp_path / "absent.json")
    assert found.value == SERVICE_ROLE  # the service-role/ path comes from iam:GetRole
    assert "GetCallerIdentity" in found.source and "iam:GetRole AmazonSageMaker-ExecutionRole-1" in found.source


def test_a_failed_describe_goes_on_to_sts_as_the_sdk_does(aws: None, tmp_path: Path) -> None:
    found = discover_role(assumed_session(), metadata(tmp_path, ResourceName="no-such-notebook"))
    assert found.value == SERVICE_ROLE
    assert any("DescribeNotebookInstance failed" in step for step in found.tried)


def test_nothing_found_says_what_was_tried(aws: None, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        discover_role(AwsSession(region=REGION), tmp_path / "absent.json")  # moto's caller is a user, not a role
    assert caught.value.what == "no SageMaker execution role found"
    assert "absent.json: no such file" in caught.value.hint
    assert "user/moto is not a role" in caught.value.hint and "SMTRAIN_ROLE" in caught.value.hint


def test_an_explicit_role_wins_over_discovery(aws: None, tmp_path: Path) -> None:
    path = metadata(tmp_path, ExecutionRoleArn="arn:aws:iam::1:role/FromMetadata")
    config = load_config({"backend": "sagemaker", "region": REGION, "role": "arn:aws:iam::1:role/Mine",
                          "resource_metadata": str(path)}, environ={}, cwd=tmp_path)
    found = SageMakerBackend(config).role_found()
    assert found.value == "arn:aws:iam::1:role/Mine" and found.source.startswith("--role")


def test_the_metadata_path_is_a_setting(aws: None, tmp_path: Path) -> None:
    path = metadata(tmp_path, ExecutionRoleArn="arn:aws:iam::1:role/FromMetadata")
    config = load_config({}, environ={"SMTRAIN_BACKEND": "sagemaker", "SMTRAIN_REGION": REGION,
                                      "SMTRAIN_RESOURCE_METADATA": str(path)}, cwd=tmp_path)
    assert SageMakerBackend(config).role() == "arn:aws:iam::1:role/FromMetadata"


def test_doctor_findings_name_each_source(aws: None, tmp_path: Path) -> None:
    path = metadata(tmp_path, ExecutionRoleArn="arn:aws:iam::1:role/FromMetadata")
    config = load_config({}, environ={"SMTRAIN_BACKEND": "sagemaker", "AWS_DEFAULT_REGION": REGION,
                                      "SMTRAIN_RESOURCE_METADATA": str(path)}, cwd=tmp_path)
    found = {entry["name"]: entry for entry in findings(SageMakerBackend(config))}
    assert found["region"] == {"name": "region", "value": REGION, "source": "SMTRAIN_REGION (environment)"}
    assert found["role"]["source"] == f"ExecutionRoleArn in {path}"
    assert found["bucket"]["value"] == f"sagemaker-{REGION}-{ACCOUNT}"
    assert "default bucket" in found["bucket"]["source"]
    assert found["config.yaml"]["value"] == "none"


def run_cli(args: list[str], capsys: Any) -> tuple[int, str]:
    from smtrain.cli import main

    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


def test_the_cli_doctor_reports_role_bucket_and_region(aws: None, tmp_path: Path, monkeypatch: Any,
                                                       capsys: Any) -> None:
    monkeypatch.chdir(tmp_path)
    path = metadata(tmp_path, ExecutionRoleArn="arn:aws:iam::1:role/FromMetadata")
    monkeypatch.setenv("SMTRAIN_RESOURCE_METADATA", str(path))
    code, output = run_cli(["doctor", "--backend", "sagemaker", "--region", REGION], capsys)
    assert code == 0, output
    assert f"ok: region: {REGION} (from --region" in output
    assert f"ok: role: arn:aws:iam::1:role/FromMetadata (from ExecutionRoleArn in {path})" in output
    assert f"ok: bucket: sagemaker-{REGION}-{ACCOUNT}" in output


def test_the_cli_doctor_says_what_was_tried_when_no_role_is_found(aws: None, tmp_path: Path, monkeypatch: Any,
                                                                  capsys: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMTRAIN_RESOURCE_METADATA", str(tmp_path / "none.json"))
    code, output = run_cli(["doctor", "--backend", "sagemaker", "--region", REGION], capsys)
    assert code == 1, output
    assert "problem: role: no SageMaker execution role found (tried: " in output


def test_without_iam_get_role_a_console_role_gets_its_service_role_path(aws: None, tmp_path: Path) -> None:
    from botocore.stub import Stubber

    session = assumed_session()
    with Stubber(session.client("iam")) as iam:  # STS is moto; iam:GetRole is refused
        iam.add_client_error("get_role", "AccessDenied", "not authorized to perform: iam:GetRole", 403)
        found = discover_role(session, tmp_path / "absent.json")
    assert found.value == SERVICE_ROLE  # the SDK's guess for AmazonSageMaker-ExecutionRole-* roles
    assert "iam:GetRole refused" in found.source

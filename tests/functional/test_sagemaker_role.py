"""A role given by name is expanded to its ARN with iam:GetRole, as the SDK does (moto IAM, in process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smtrain.api.session import Session
from smtrain.aws.session import AwsSession, expand_role
from smtrain.aws.translation import AwsConfigError
from smtrain.backends.sagemaker import SageMakerBackend
from smtrain.core.config import Config

REGION = "eu-west-1"
MOTO_ACCOUNT = "123456789012"
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture
def iam(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("iam", region_name=REGION)
        client.create_role(RoleName="SageMakerRole", Path="/service-role/",
                           AssumeRolePolicyDocument=json.dumps(TRUST))
        yield client


def backend(role: str) -> SageMakerBackend:
    return SageMakerBackend(Config(backend="sagemaker", region=REGION, role=role), sleep=lambda _: None)


def test_a_role_name_becomes_its_arn(iam: Any) -> None:
    assert backend("SageMakerRole").role() == f"arn:aws:iam::{MOTO_ACCOUNT}:role/service-role/SageMakerRole"


def test_an_arn_is_used_as_given_without_asking_iam(iam: Any) -> None:
    calls: list[str] = []
    session = AwsSession(region=REGION)
    session.client("iam").meta.events.register("before-call.iam.*", lambda model, **_: calls.append(model.name))
    arn = "arn:aws:iam::111122223333:role/Elsewhere"
    assert expand_role(session, arn) == arn
    assert calls == []


def test_an_unknown_role_name_is_a_clear_error(iam: Any) -> None:
    with pytest.raises(AwsConfigError) as caught:
        backend("NoSuchRole").role()
    assert caught.value.what == "IAM role 'NoSuchRole' does not exist in this account"
    assert caught.value.where == "role NoSuchRole" and caught.value.exit_code == 2
    assert "full ARN" in caught.value.hint


def test_fit_with_an_unknown_role_fails_before_uploading(iam: Any, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("a,b\n1,2\n")
    session = Session(backend="sagemaker", region=REGION, role="NoSuchRole", quiet=True)
    with pytest.raises(AwsConfigError, match="does not exist"):
        session.fit("train.py", source_dir=tmp_path, channels={"train": str(tmp_path / "data")}, job_name="job-1")
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []  # nothing was uploaded


def test_fit_with_a_role_name_sends_its_arn(iam: Any, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    session = Session(backend="sagemaker", region=REGION, role="SageMakerRole", quiet=True)
    spec = session.training_spec("train.py", source_dir=tmp_path, channels={"train": "s3://data/train/"},
                                 job_name="job-1")
    request = next(step for step in session.plan_fit(spec, root="s3://b/smtrain") if step.step == "training")
    assert request.params["RoleArn"] == f"arn:aws:iam::{MOTO_ACCOUNT}:role/service-role/SageMakerRole"  # type: ignore[union-attr]


def test_a_name_you_may_not_look_up_says_to_give_the_arn() -> None:
    from botocore.stub import Stubber

    from smtrain.core.errors import AwsError

    session = AwsSession(region=REGION)
    with Stubber(session.client("iam")) as iam:
        iam.add_client_error("get_role", "AccessDenied", "User is not authorized to perform: iam:GetRole", 403,
                             expected_params={"RoleName": "SageMakerRole"})
        with pytest.raises(AwsError) as caught:
            expand_role(session, "SageMakerRole")
    assert caught.value.what == "you may not look up IAM role 'SageMakerRole' (iam:GetRole)"
    assert "full ARN" in caught.value.hint

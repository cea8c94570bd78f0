"""The registry under concurrency and misuse: first registrations into a new group race, and all succeed;
a pending version deploys only with a warning; a model package ARN from another region is refused.

Before: one of six parallel ``register`` calls failed with "Model Package Group already exists" (both saw no
group, both created it); a PendingManualApproval version deployed without a word; an ARN from another region
was accepted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.stub import Stubber

from smtrain.api.session import Session
from smtrain.aws.session import AwsSession
from smtrain.backends.sagemaker import SageMakerBackend
from tests.e2e.conftest import SMTRAIN, Cli, cli, workdir
from tests.e2e.test_cli_local import fit_args, prepare
from tests.functional.test_sagemaker_serving_image import (
    ACCOUNT,
    NOW,
    REGION,
    ROLE,
    SKLEARN_JOB,
)

__all__ = ["cli", "workdir"]  # the e2e fixtures: a project with the example entry point, torn down after
REGISTERS = 6


def test_six_parallel_first_registrations_into_a_new_group_all_succeed(cli: Cli) -> None:
    data = prepare(cli)
    fit = cli(*fit_args(data, "--job-name", "race-1"))
    assert fit.code == 0, fit.err
    registers = [subprocess.Popen([SMTRAIN, "register", "race-1", "--group", "fresh", "--json"], cwd=cli.cwd,
                                  env=cli.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(REGISTERS)]
    answers = [(p.wait(timeout=300), *p.communicate()) for p in registers]
    assert [code for code, _, err in answers] == [0] * REGISTERS, [err for _, _, err in answers]
    versions = cli("models", "fresh", "--json").json()
    assert sorted(v["ModelPackageVersion"] for v in versions) == list(range(1, REGISTERS + 1))
    assert [g["ModelPackageGroupName"] for g in cli("models", "--json").json()] == ["fresh"]

    # every version is PendingManualApproval: it deploys, with a warning that says how to approve it
    deployed = cli("deploy", "fresh/1", "--endpoint-name", "pending-ep")
    assert deployed.code == 0, deployed.err
    assert ("warning: model version fresh/1 is PendingManualApproval (not approved); deploying it anyway. "
            "`smtrain approve fresh/1` approves it") in deployed.err
    assert cli("teardown", "pending-ep").code == 0
    approved = cli("approve", "fresh/2")
    assert approved.code == 0, approved.err
    quiet = cli("deploy", "fresh/2", "--endpoint-name", "approved-ep")
    assert quiet.code == 0 and "warning" not in quiet.err, quiet.err
    assert cli("teardown", "approved-ep").code == 0


def test_a_model_package_arn_from_another_region_is_refused(cli: Cli) -> None:
    arn = "arn:aws:sagemaker:eu-west-3:000000000000:model-package/fresh/1"
    result = cli("deploy", arn, "--region", "us-east-1")
    assert result.code == 2, result.err
    assert result.err == (f"error: model version: model package {arn} is in region eu-west-3, but smtrain works "
                          "in us-east-1\n  hint: pass --region eu-west-3 (or set SMTRAIN_REGION) to use it there, "
                          "or register the model in us-east-1; a model package cannot serve from another region\n")
    assert not (cli.cwd / ".smtrain" / "endpoints").exists()  # nothing was created


def test_a_group_created_meanwhile_is_success_locally(tmp_path: Path) -> None:
    from smtrain.execution.executor import QuietReporter, execute
    from smtrain.planning.model_package import plan_register

    session = Session(quiet=True, home=str(tmp_path / ".smtrain"))
    sm = session.backend.sagemaker()
    sm.create_model_package_group(ModelPackageGroupName="late")  # the other registration won the race
    job = {"TrainingJobName": "job-1", "TrainingJobStatus": "Completed",
           "ModelArtifacts": {"S3ModelArtifacts": "file:///tmp/model.tar.gz"}, "HyperParameters": {}}
    plan = plan_register(job, group="late", approve=False, image_uri="image", region="us-east-1", create_group=True)
    results = execute(plan, session.backend, QuietReporter())
    assert results["model-package-group"]["ModelPackageGroupArn"].endswith(":model-package-group/late")
    assert results["model-package-ready"]["ModelPackageVersion"] == 1


@pytest.fixture
def sagemaker_session() -> Iterator[tuple[Session, Stubber]]:
    aws = AwsSession(region=REGION)
    session = Session(backend="sagemaker", region=REGION, role=ROLE, quiet=True)
    session.backend = SageMakerBackend(session.config, session=aws, sleep=lambda _: None)
    with Stubber(aws.client("sagemaker")) as stubber:
        yield session, stubber
        stubber.assert_no_pending_responses()


def test_already_exists_from_sagemaker_is_success(sagemaker_session: tuple[Session, Stubber]) -> None:
    session, sagemaker = sagemaker_session
    group_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/penguins"
    package_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/penguins/1"
    group = {"ModelPackageGroupName": "penguins"}
    sagemaker.add_response("describe_training_job", SKLEARN_JOB, {"TrainingJobName": "job-1"})
    sagemaker.add_client_error("describe_model_package_group", "ValidationException",
                               "ModelPackageGroup penguins does not exist.", expected_params=group)
    # SageMaker's answer to the loser of the race (the local registry mirrors it): then the group is described
    sagemaker.add_client_error("create_model_package_group", "ValidationException",
                               f"Model Package Group already exists: {group_arn}")
    sagemaker.add_response("describe_model_package_group", {
        "ModelPackageGroupName": "penguins", "ModelPackageGroupArn": group_arn, "CreationTime": NOW,
        "CreatedBy": {}, "ModelPackageGroupStatus": "Completed"}, group)
    sagemaker.add_response("create_model_package", {"ModelPackageArn": package_arn})
    sagemaker.add_response("describe_model_package", {
        "ModelPackageName": "penguins", "ModelPackageArn": package_arn, "CreationTime": NOW,
        "ModelPackageStatus": "Completed", "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "ModelApprovalStatus": "PendingManualApproval"}, {"ModelPackageName": package_arn})
    assert session.register("job-1", group="penguins")["ModelPackageArn"] == package_arn


def test_another_validation_error_on_create_group_still_fails(sagemaker_session: tuple[Session, Stubber]) -> None:
    from smtrain.core.errors import SmtrainError

    session, sagemaker = sagemaker_session
    sagemaker.add_response("describe_training_job", SKLEARN_JOB, {"TrainingJobName": "job-1"})
    sagemaker.add_client_error("describe_model_package_group", "ValidationException",
                               "ModelPackageGroup penguins does not exist.")
    sagemaker.add_client_error("create_model_package_group", "ValidationException", "Tags are invalid")
    with pytest.raises(SmtrainError, match="Tags are invalid"):
        session.register("job-1", group="penguins")

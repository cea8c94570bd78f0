"""The AWS boundary, against botocore's Stubber: exact requests, error translation
(also of what a wait polls), the SDK-style default bucket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore import exceptions as bce
from botocore.stub import Stubber

from smtrain.aws.session import AwsSession, default_bucket, ensure_bucket
from smtrain.aws.translation import AwsConfigError, AwsNotFoundError, translate, translating
from smtrain.backends.sagemaker import SageMakerBackend
from smtrain.backends.selection import get_backend
from smtrain.core.config import Config
from smtrain.core.errors import AwsError, NotFoundError, UsageError
from smtrain.execution.waiting import wait_for
from smtrain.planning.model_package import group_exists, plan_register
from smtrain.planning.spec import TrainingSpec
from smtrain.planning.steps import ApiCall, method_name, resolve

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.fixture
def session() -> AwsSession:
    return AwsSession(region=REGION)


@pytest.fixture
def sagemaker(session: AwsSession) -> Iterator[Stubber]:
    with Stubber(session.client("sagemaker")) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def run(step: ApiCall, session: AwsSession, results: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the workflow's executor does with an ApiCall."""
    client = session.client(step.service)
    return dict(getattr(client, method_name(step.operation))(**resolve(step.params, results or {})))


# -- requests ---------------------------------------------------------------------------


def test_create_training_job_sends_the_plan_params_verbatim(
    tmp_path: Path, session: AwsSession, sagemaker: Stubber
) -> None:
    from smtrain.planning.plan import plan_fit

    spec = TrainingSpec(entry_point="train.py", source_dir=tmp_path, channels={"train": "s3://data/train/"},
                        hyperparameters={"max_depth": 8}, job_name="job-1", spot=True)
    plan = plan_fit(spec, Config(backend="sagemaker", region=REGION), root="s3://b/smtrain", image_uri=IMAGE,
                    role=ROLE)
    step = next(s for s in plan if isinstance(s, ApiCall))
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/job-1"
    # The Stubber also validates the request against botocore's SageMaker model.
    sagemaker.add_response("create_training_job", {"TrainingJobArn": arn}, dict(step.params))
    assert run(step, session)["TrainingJobArn"] == arn


def test_register_requests_are_valid_sagemaker_requests(session: AwsSession, sagemaker: Stubber) -> None:
    job = {"TrainingJobName": "job-1", "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m/model.tar.gz"},
           "HyperParameters": {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": '"s3://b/s.tgz"'}}
    group_step, package_step, _ = plan_register(job, group="penguins", approve=True, image_uri=IMAGE, region=REGION)
    group_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/penguins"
    package_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/penguins/1"
    sagemaker.add_response("create_model_package_group", {"ModelPackageGroupArn": group_arn},
                           dict(group_step.params))  # type: ignore[union-attr]
    sagemaker.add_response("create_model_package", {"ModelPackageArn": package_arn},
                           dict(package_step.params))  # type: ignore[union-attr]
    run(group_step, session)  # type: ignore[arg-type]
    assert run(package_step, session)["ModelPackageArn"] == package_arn  # type: ignore[arg-type]


def test_group_exists_asks_describe(session: AwsSession, sagemaker: Stubber) -> None:
    sagemaker.add_client_error("describe_model_package_group", "ValidationException",
                               "ModelPackageGroup arn:aws:sagemaker:eu-west-1:1:model-package-group/x does not exist.",
                               expected_params={"ModelPackageGroupName": "x"})
    sagemaker.add_response("describe_model_package_group", {
        "ModelPackageGroupName": "y",
        "ModelPackageGroupArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/y",
        "CreationTime": 0, "CreatedBy": {}, "ModelPackageGroupStatus": "Completed"}, {"ModelPackageGroupName": "y"})
    assert group_exists(session.client("sagemaker"), "x") is False
    assert group_exists(session.client("sagemaker"), "y") is True


def test_clients_are_cached_and_use_standard_retries(session: AwsSession) -> None:
    client = session.client("sagemaker")
    assert session.client("sagemaker") is client
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.region_name == REGION


def test_aws_endpoint_url_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    assert AwsSession(region=REGION).client("s3").meta.endpoint_url == "http://127.0.0.1:5999"


def test_no_region_is_a_configuration_error() -> None:
    with pytest.raises(AwsConfigError, match="no AWS region") as caught:
        AwsSession().client("sagemaker")
    assert "SMTRAIN_REGION" in caught.value.hint and caught.value.exit_code == 2


# -- error translation ---------------------------------------------------------------


def stubbed_error(session: AwsSession, sagemaker: Stubber, code: str, message: str, status: int = 400) -> AwsError:
    sagemaker.add_client_error("describe_training_job", code, message, status)
    with pytest.raises(AwsError) as caught, translating(where="training job job-1"):
        session.client("sagemaker").describe_training_job(TrainingJobName="job-1")
    assert caught.value.code == code and caught.value.where == "training job job-1"
    return caught.value


def test_missing_credentials(session: AwsSession) -> None:
    # conftest leaves no credentials anywhere, so signing fails before any request is sent.
    with pytest.raises(AwsConfigError) as caught, translating(where="CreateTrainingJob"):
        session.client("sagemaker").list_training_jobs()
    assert "no usable AWS credentials" in caught.value.what
    assert "AWS_PROFILE" in caught.value.hint and "aws configure" in caught.value.hint


def test_unknown_profile() -> None:
    with pytest.raises(AwsConfigError, match="could not be found") as caught:
        AwsSession(region=REGION, profile="nope").client("s3")
    assert "AWS_PROFILE" in caught.value.hint


def test_no_region_error_from_botocore() -> None:
    error = translate(bce.NoRegionError(), where="sagemaker client")
    assert isinstance(error, AwsConfigError) and "AWS_REGION" in error.hint


def test_endpoint_connection_error() -> None:
    error = translate(bce.EndpointConnectionError(endpoint_url="https://api.sagemaker.xx-1.amazonaws.com"),
                      where="CreateTrainingJob")
    assert isinstance(error, AwsError) and error.code == "EndpointConnectionError"
    assert "region" in error.hint and "AWS_ENDPOINT_URL" in error.hint


@pytest.mark.parametrize("message", [
    "Could not assume role arn:aws:iam::1:role/x. Please ensure that the role exists and allows principal "
    "'sagemaker.amazonaws.com' to assume the role.",
    "Role arn:aws:iam::1:role/x does not exist.",
])
def test_role_problems(session: AwsSession, sagemaker: Stubber, message: str) -> None:
    error = stubbed_error(session, sagemaker, "ValidationException", message)
    assert not isinstance(error, NotFoundError)
    assert "execution role" in error.what and "SMTRAIN_ROLE" in error.hint


def test_other_validation_errors_keep_the_message(session: AwsSession, sagemaker: Stubber) -> None:
    error = stubbed_error(session, sagemaker, "ValidationException", "Instance type ml.x is not supported")
    assert error.what == "SageMaker rejected the request: Instance type ml.x is not supported"


def test_unknown_resource(session: AwsSession, sagemaker: Stubber) -> None:
    error = stubbed_error(session, sagemaker, "ValidationException", "Requested resource not found.")
    assert isinstance(error, NotFoundError)
    error = stubbed_error(session, sagemaker, "ResourceNotFound", "Could not find job-1")
    assert isinstance(error, AwsNotFoundError) and isinstance(error, NotFoundError)


def test_throttling_after_retries(session: AwsSession, sagemaker: Stubber) -> None:
    error = stubbed_error(session, sagemaker, "ThrottlingException", "Rate exceeded")
    assert "even after retries" in error.what and "retry" in error.hint


def test_quota_exhausted(session: AwsSession, sagemaker: Stubber) -> None:
    message = ("The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 Instances, with current "
               "utilization of 0 Instances and a request delta of 1 Instances.")
    error = stubbed_error(session, sagemaker, "ResourceLimitExceeded", message)
    assert message in error.what and "Service Quotas" in error.hint


@pytest.mark.parametrize("code", ["InvalidClientTokenId", "UnrecognizedClientException"])
def test_wrong_region_or_credentials(session: AwsSession, sagemaker: Stubber, code: str) -> None:
    error = stubbed_error(session, sagemaker, code, "The security token included in the request is invalid.", 403)
    assert isinstance(error, UsageError)
    assert "region" in error.hint and "credentials" in error.hint


def test_access_denied_mentions_pass_role(session: AwsSession, sagemaker: Stubber) -> None:
    error = stubbed_error(session, sagemaker, "AccessDeniedException",
                          f"User: arn:aws:iam::{ACCOUNT}:user/me is not authorized to perform: iam:PassRole")
    assert "iam:PassRole" in error.hint
    error = stubbed_error(session, sagemaker, "AccessDenied", "no")
    assert "permission" in error.hint


def test_unknown_bucket(session: AwsSession) -> None:
    with Stubber(session.client("s3")) as s3:
        s3.add_client_error("put_object", "NoSuchBucket", "The specified bucket does not exist", 404)
        with pytest.raises(AwsNotFoundError) as caught, translating(where="s3://missing/key"):
            session.client("s3").put_object(Bucket="missing", Key="key", Body=b"x")
    assert caught.value.code == "NoSuchBucket" and "SMTRAIN_BUCKET" in caught.value.hint


def test_failed_s3_transfer_is_unwrapped() -> None:
    from boto3.exceptions import S3UploadFailedError

    try:
        try:
            raise bce.ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "UploadPart")
        except bce.ClientError:
            raise S3UploadFailedError("Failed to upload a to b/c: An error occurred (AccessDenied)") from None
    except S3UploadFailedError as exc:
        error = translate(exc, where="s3://b/c")
    assert isinstance(error, AwsError) and error.code == "AccessDenied"


def test_non_aws_errors_pass_through() -> None:
    with pytest.raises(KeyError), translating(where="x"):
        raise KeyError("not ours")


# -- waiting -----------------------------------------------------------------------------


def test_wait_for_translates_describe_errors(session: AwsSession, sagemaker: Stubber) -> None:
    sagemaker.add_client_error("describe_endpoint", "ValidationException", "Could not find endpoint e1.")
    client = session.client("sagemaker")

    def describe() -> Any:
        with translating(where="endpoint e1"):
            return client.describe_endpoint(EndpointName="e1")

    with pytest.raises(NotFoundError, match="Could not find endpoint"):
        wait_for(describe, "EndpointStatus", ("InService",), ("Failed",), sleep=lambda _: None)


# -- default bucket ------------------------------------------------------------------------


def stub_identity(session: AwsSession) -> Stubber:
    sts = Stubber(session.client("sts"))
    sts.add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/me",
                                             "UserId": "AIDEXAMPLE"}, {})
    return sts


def test_default_bucket_is_created_in_the_region(session: AwsSession) -> None:
    name = f"sagemaker-{REGION}-{ACCOUNT}"
    with stub_identity(session), Stubber(session.client("s3")) as s3:
        s3.add_client_error("head_bucket", "404", "Not Found", 404,
                            expected_params={"Bucket": name, "ExpectedBucketOwner": ACCOUNT})
        s3.add_response("create_bucket", {"Location": f"/{name}"},
                        {"Bucket": name, "CreateBucketConfiguration": {"LocationConstraint": REGION}})
        assert default_bucket(session) == name
        s3.assert_no_pending_responses()


def test_us_east_1_bucket_has_no_location_constraint() -> None:
    session = AwsSession(region="us-east-1")
    with Stubber(session.client("s3")) as s3:
        s3.add_client_error("head_bucket", "404", "Not Found", 404)
        s3.add_response("create_bucket", {}, {"Bucket": "b"})
        assert ensure_bucket(session.client("s3"), "b", region="us-east-1", owner=ACCOUNT) is True


def test_existing_bucket_is_left_alone(session: AwsSession) -> None:
    with Stubber(session.client("s3")) as s3:
        s3.add_response("head_bucket", {}, {"Bucket": "b", "ExpectedBucketOwner": ACCOUNT})
        assert ensure_bucket(session.client("s3"), "b", region=REGION, owner=ACCOUNT) is False
        s3.assert_no_pending_responses()


def test_concurrent_creation_is_not_an_error(session: AwsSession) -> None:
    with Stubber(session.client("s3")) as s3:
        s3.add_client_error("head_bucket", "404", "Not Found", 404)
        s3.add_client_error("create_bucket", "OperationAborted",
                            "A conflicting conditional operation is currently in progress against this resource.", 409)
        assert ensure_bucket(session.client("s3"), "b", region=REGION, owner=ACCOUNT) is False


def test_bucket_owned_by_someone_else(session: AwsSession) -> None:
    with Stubber(session.client("s3")) as s3:
        s3.add_client_error("head_bucket", "403", "Forbidden", 403)
        with pytest.raises(AwsError, match="not yours") as caught:
            ensure_bucket(session.client("s3"), "b", region=REGION, owner=ACCOUNT)
    assert "SMTRAIN_BUCKET" in caught.value.hint


# -- the backend -----------------------------------------------------------------------------


def test_backend_plans_without_creating_the_bucket(session: AwsSession) -> None:
    backend = SageMakerBackend(Config(backend="sagemaker", region=REGION, role=ROLE), session=session)
    with stub_identity(session), Stubber(session.client("s3")) as s3:
        assert backend.artifact_root() == f"s3://sagemaker-{REGION}-{ACCOUNT}/smtrain"
        s3.assert_no_pending_responses()  # nothing asked of S3 yet
        s3.add_response("head_bucket", {}, {"Bucket": f"sagemaker-{REGION}-{ACCOUNT}", "ExpectedBucketOwner": ACCOUNT})
        backend.ensure_bucket()
        backend.ensure_bucket()  # checked once per backend
    assert backend.role() == ROLE
    assert backend.runtime_url() == ""


def test_configured_bucket_and_prefix_need_no_aws_call() -> None:
    backend = SageMakerBackend(Config(backend="sagemaker", region=REGION, bucket="mine", prefix="team/ml/"))
    assert backend.artifact_root() == "s3://mine/team/ml"
    backend.ensure_bucket()  # a configured bucket is never created by smtrain


def test_backend_without_role_says_how_to_set_one() -> None:
    with pytest.raises(UsageError, match="no SageMaker execution role") as caught:
        SageMakerBackend(Config(backend="sagemaker", region=REGION)).role()
    assert "SMTRAIN_ROLE" in caught.value.hint


def test_backend_image_and_factory() -> None:
    backend = get_backend(Config(backend="sagemaker", region=REGION, framework_version="1.2-1"))
    assert isinstance(backend, SageMakerBackend)
    assert backend.image_uri("") == IMAGE
    assert backend.image_uri("1.0-1").endswith(":1.0-1-cpu-py3")


def test_backend_sleep_is_injected() -> None:
    slept: list[float] = []
    SageMakerBackend(Config(backend="sagemaker", region=REGION), sleep=slept.append).sleep(3)
    assert slept == [3]



def test_a_refusal_names_the_backend_that_refused() -> None:
    from botocore.exceptions import ClientError

    from smtrain.aws.translation import translate

    refused = ClientError({"Error": {"Code": "ValidationException", "Message": "bad value"}}, "CreateTrainingJob")
    assert translate(refused, backend="local").what == "the local backend rejected the request: bad value"
    assert translate(refused).what == "SageMaker rejected the request: bad value"

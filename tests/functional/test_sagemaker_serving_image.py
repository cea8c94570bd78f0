"""`deploy` and `register` serve a job's model on the job's own image (a tuning job's: its best training
job's), with botocore's Stubber pinning the exact CreateModel / CreateModelPackage requests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from smtrain.api.session import Session
from smtrain.aws.session import AwsSession
from smtrain.backends.sagemaker import SageMakerBackend

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
SKLEARN_1_4_2 = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
CUSTOM = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/my-team/penguins:2024-05"
MODEL_DATA = "s3://bucket/smtrain/output/job-1/output/model.tar.gz"
SOURCE = "s3://bucket/smtrain/job-1/source/sourcedir.tar.gz"
TAGS = [{"Key": "smtrain:managed", "Value": "true"}]
SERVING_ENV = {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": SOURCE,
               "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": REGION}
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def aws() -> AwsSession:
    return AwsSession(region=REGION)


@pytest.fixture
def session(aws: AwsSession) -> Session:
    session = Session(backend="sagemaker", region=REGION, role=ROLE, quiet=True)
    session.backend = SageMakerBackend(session.config, session=aws, sleep=lambda _: None)
    return session


@pytest.fixture
def sagemaker(aws: AwsSession) -> Iterator[Stubber]:
    with Stubber(aws.client("sagemaker")) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def completed_job(image: str, hyperparameters: dict[str, str]) -> dict[str, Any]:
    """DescribeTrainingJob of a completed job trained on ``image``."""
    return {
        "TrainingJobName": "job-1",
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/job-1",
        "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed", "CreationTime": NOW,
        "ModelArtifacts": {"S3ModelArtifacts": MODEL_DATA},
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": hyperparameters,
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/smtrain/output/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
    }


SKLEARN_JOB = completed_job(SKLEARN_1_4_2, {"sagemaker_program": '"train.py"',
                                            "sagemaker_submit_directory": f'"{SOURCE}"'})
CUSTOM_JOB = completed_job(CUSTOM, {"max_depth": "3"})


def expect_deploy(sagemaker: Stubber, job: dict[str, Any], container: dict[str, Any]) -> None:
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    sagemaker.add_response("describe_training_job", job, {"TrainingJobName": "job-1"})
    sagemaker.add_client_error("describe_endpoint", "ValidationException", 'Could not find endpoint "ep".',
                               expected_params={"EndpointName": "ep"})
    sagemaker.add_response("create_model", {"ModelArn": f"{arn}:model/ep"}, {
        "ModelName": "ep", "PrimaryContainer": container, "ExecutionRoleArn": ROLE, "Tags": TAGS})
    sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": f"{arn}:endpoint-config/ep"}, {
        "EndpointConfigName": "ep", "Tags": TAGS, "ProductionVariants": [{
            "VariantName": "AllTraffic", "ModelName": "ep", "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}]})
    sagemaker.add_response("create_endpoint", {"EndpointArn": f"{arn}:endpoint/ep"},
                           {"EndpointName": "ep", "EndpointConfigName": "ep", "Tags": TAGS})


def test_a_job_trained_on_1_4_2_is_served_on_1_4_2(session: Session, sagemaker: Stubber) -> None:
    # The SDK's image map has no 1.4-2 inference entry: the scikit-learn image serves from the same tag.
    expect_deploy(sagemaker, SKLEARN_JOB, {"Image": SKLEARN_1_4_2, "ModelDataUrl": MODEL_DATA,
                                           "Environment": SERVING_ENV})
    assert session.deploy("job-1", endpoint_name="ep", wait=False).status == "Creating"


def test_a_custom_image_job_is_served_on_its_own_image(session: Session, sagemaker: Stubber) -> None:
    expect_deploy(sagemaker, CUSTOM_JOB, {"Image": CUSTOM, "ModelDataUrl": MODEL_DATA,
                                          "Environment": {"SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                                                          "SAGEMAKER_REGION": REGION}})
    session.deploy("job-1", endpoint_name="ep", wait=False)


def test_image_uri_overrides_the_jobs_image(session: Session, sagemaker: Stubber) -> None:
    other = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    expect_deploy(sagemaker, SKLEARN_JOB, {"Image": other, "ModelDataUrl": MODEL_DATA, "Environment": SERVING_ENV})
    session.deploy("job-1", endpoint_name="ep", wait=False, image_uri=other)


def expect_register(sagemaker: Stubber, job: dict[str, Any], container: dict[str, Any]) -> None:
    group_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/penguins"
    package_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/penguins/1"
    sagemaker.add_response("describe_training_job", job, {"TrainingJobName": "job-1"})
    sagemaker.add_response("describe_model_package_group", {
        "ModelPackageGroupName": "penguins", "ModelPackageGroupArn": group_arn, "CreationTime": NOW,
        "CreatedBy": {}, "ModelPackageGroupStatus": "Completed"}, {"ModelPackageGroupName": "penguins"})
    sagemaker.add_response("create_model_package", {"ModelPackageArn": package_arn}, {
        "ModelPackageGroupName": "penguins",
        "ModelPackageDescription": "Trained by SageMaker training job job-1",
        "InferenceSpecification": {
            "Containers": [container],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["application/json", "text/csv"],
        },
        "ModelApprovalStatus": "PendingManualApproval",
        "CustomerMetadataProperties": {"smtrain:training-job": "job-1", "smtrain:managed": "true"},
    })
    sagemaker.add_response("describe_model_package", {
        "ModelPackageName": "penguins", "ModelPackageArn": package_arn, "CreationTime": NOW,
        "ModelPackageStatus": "Completed", "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "ModelApprovalStatus": "PendingManualApproval"}, {"ModelPackageName": package_arn})


def test_register_a_job_trained_on_1_4_2(session: Session, sagemaker: Stubber) -> None:
    expect_register(sagemaker, SKLEARN_JOB, {"Image": SKLEARN_1_4_2, "ModelDataUrl": MODEL_DATA,
                                             "Environment": SERVING_ENV})
    assert session.register("job-1", group="penguins")["ModelPackageStatus"] == "Completed"


def test_register_a_custom_image_job(session: Session, sagemaker: Stubber) -> None:
    expect_register(sagemaker, CUSTOM_JOB, {"Image": CUSTOM, "ModelDataUrl": MODEL_DATA,
                                            "Environment": {"SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                                                            "SAGEMAKER_REGION": REGION}})
    session.register("job-1", group="penguins")


@pytest.mark.parametrize(("image", "version"), [
    (SKLEARN_1_4_2, "1.4-2"),
    ("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3", "1.4-2-py312"),
    ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:0.23-1-cpu-py3", "0.23-1"),
    (CUSTOM, ""),
    ("smtrain-local/sklearn:1.2-1", ""),
])
def test_framework_version_of_an_image(image: str, version: str) -> None:
    from smtrain.aws.images import framework_version_of

    assert framework_version_of(image) == version


def test_every_sklearn_version_serves_from_its_training_tag() -> None:
    """Verified in the SDK's image map: training and inference share repository and tag."""
    from smtrain.aws.images import known_versions, serving_image_uri, sklearn_image_uri

    for version in known_versions("training"):
        training = sklearn_image_uri(REGION, version)
        assert serving_image_uri(training, REGION) == training


def expect_best_of_tuning_job(sagemaker: Stubber) -> None:
    """`tune-1` is no training job but a tuning job whose BestTrainingJob is job-1."""
    # DescribeTrainingJob of a missing job: "ValidationException: Requested resource not found."
    sagemaker.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.",
                               expected_params={"TrainingJobName": "tune-1"})
    config = {"Strategy": "Bayesian", "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
              "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "acc"}}
    sagemaker.add_response("describe_hyper_parameter_tuning_job", {
        "HyperParameterTuningJobName": "tune-1",
        "HyperParameterTuningJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/tune-1",
        "HyperParameterTuningJobConfig": config, "HyperParameterTuningJobStatus": "Completed", "CreationTime": NOW,
        "TrainingJobStatusCounters": {"Completed": 2}, "ObjectiveStatusCounters": {"Succeeded": 2},
        "BestTrainingJob": {"TrainingJobName": "job-1", "TrainingJobArn": SKLEARN_JOB["TrainingJobArn"],
                            "CreationTime": NOW, "TrainingJobStatus": "Completed",
                            "TunedHyperParameters": {"C": "0.5"}},
    }, {"HyperParameterTuningJobName": "tune-1"})


def test_register_a_tuning_job_registers_its_best_training_job(session: Session, sagemaker: Stubber) -> None:
    expect_best_of_tuning_job(sagemaker)
    expect_register(sagemaker, SKLEARN_JOB, {"Image": SKLEARN_1_4_2, "ModelDataUrl": MODEL_DATA,
                                             "Environment": SERVING_ENV})
    assert session.register("tune-1", group="penguins")["ModelPackageStatus"] == "Completed"


def test_deploy_a_tuning_job_serves_its_best_training_job(session: Session, sagemaker: Stubber) -> None:
    expect_best_of_tuning_job(sagemaker)
    expect_deploy(sagemaker, SKLEARN_JOB, {"Image": SKLEARN_1_4_2, "ModelDataUrl": MODEL_DATA,
                                           "Environment": SERVING_ENV})
    assert session.deploy("tune-1", endpoint_name="ep", wait=False).status == "Creating"

"""The SageMaker plans: exact API requests, built with no I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smtrain.core.config import Config
from smtrain.core.errors import UsageError
from smtrain.planning.model_package import plan_register
from smtrain.planning.plan import plan_deploy, plan_fit
from smtrain.planning.spec import DeploySpec, TrainingSpec
from smtrain.planning.steps import ApiCall, Ref, Upload, Wait

ROOT = "s3://bucket/smtrain"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
SOURCE = f"{ROOT}/job-1/source/s1/sourcedir.tar.gz"  # under the submission's id: never over another's
CONFIG = Config(backend="sagemaker", region="eu-west-1")
TAGS = [{"Key": "smtrain:managed", "Value": "true"}]


def spec(tmp_path: Path, **kwargs: Any) -> TrainingSpec:
    return TrainingSpec(
        entry_point="train.py",
        source_dir=tmp_path / "src",
        channels={"train": str(tmp_path / "train"), "test": "s3://data/test/"},
        hyperparameters={"max_depth": 8, "criterion": "gini", "flags": [1, "a"]},
        job_name="job-1",
        submission_id="s1",
        **kwargs,
    )


def request_of(plan: tuple[Any, ...], step: str) -> dict[str, Any]:
    found = [s for s in plan if s.step == step]
    assert len(found) == 1 and isinstance(found[0], ApiCall)
    return dict(found[0].params)


def channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
    }


def test_fit_plan_uploads_source_and_local_channels_then_creates_and_waits(tmp_path: Path) -> None:
    plan = plan_fit(spec(tmp_path), CONFIG, root=ROOT, image_uri=IMAGE, role=ROLE)
    assert [type(s).__name__ for s in plan] == ["Upload", "Upload", "ApiCall", "Wait"]
    assert plan[0] == Upload("upload-source", "source", str(tmp_path / "src"), SOURCE, "train.py")
    assert plan[1] == Upload("upload-train", "data", str((tmp_path / "train").resolve()),
                             f"{ROOT}/job-1/input/s1/train/")
    assert plan[3] == Wait("training-done", "sagemaker", "DescribeTrainingJob", {"TrainingJobName": "job-1"},
                           "TrainingJobStatus", ("Completed",), ("Failed", "Stopped"))


def test_create_training_job_request_is_exact(tmp_path: Path) -> None:
    plan = plan_fit(spec(tmp_path), CONFIG, root=ROOT, image_uri=IMAGE, role=ROLE)
    assert request_of(plan, "training") == {
        "TrainingJobName": "job-1",
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [channel("train", f"{ROOT}/job-1/input/s1/train/"), channel("test", "s3://data/test/")],
        "OutputDataConfig": {"S3OutputPath": f"{ROOT}/output/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        # As the SDK sends them: every value json.dumps-ed, plus its framework keys.
        "HyperParameters": {
            "max_depth": "8",
            "criterion": '"gini"',
            "flags": '[1, "a"]',
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": f'"{SOURCE}"',
            "sagemaker_container_log_level": "20",
            "sagemaker_job_name": '"job-1"',
            "sagemaker_region": '"eu-west-1"',
        },
        "Tags": TAGS,
    }


def test_instance_settings_come_from_the_spec_before_the_config(tmp_path: Path) -> None:
    plan = plan_fit(spec(tmp_path, instance_type="ml.c5.xlarge", instance_count=2), CONFIG,
                    root=ROOT, image_uri=IMAGE, role=ROLE)
    resources = request_of(plan, "training")["ResourceConfig"]
    assert resources == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30}


def test_spot_training_sets_max_wait_and_checkpoints(tmp_path: Path) -> None:
    plan = plan_fit(spec(tmp_path, spot=True, max_wait_seconds=7200), CONFIG, root=ROOT, image_uri=IMAGE, role=ROLE)
    request = request_of(plan, "training")
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400, "MaxWaitTimeInSeconds": 7200}
    assert request["CheckpointConfig"] == {"S3Uri": f"{ROOT}/job-1/checkpoints/"}


def test_spot_checkpoint_uri_can_be_given(tmp_path: Path) -> None:
    plan = plan_fit(spec(tmp_path, spot=True, checkpoint_uri="s3://ck/job/"), CONFIG,
                    root=ROOT, image_uri=IMAGE, role=ROLE)
    request = request_of(plan, "training")
    assert request["CheckpointConfig"] == {"S3Uri": "s3://ck/job/"}
    assert request["StoppingCondition"]["MaxWaitTimeInSeconds"] == 86400


def test_kms_vpc_isolation_and_environment(tmp_path: Path) -> None:
    plan = plan_fit(
        spec(tmp_path, volume_kms_key="key-vol", output_kms_key="key-out", subnets=("subnet-1",),
             security_groups=("sg-1", "sg-2"), network_isolation=True, environment={"MODE": "fast"}),
        CONFIG, root=ROOT, image_uri=IMAGE, role=ROLE,
    )
    request = request_of(plan, "training")
    assert request["ResourceConfig"]["VolumeKmsKeyId"] == "key-vol"
    assert request["OutputDataConfig"] == {"S3OutputPath": f"{ROOT}/output/", "KmsKeyId": "key-out"}
    assert request["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1", "sg-2"]}
    assert request["EnableNetworkIsolation"] is True
    assert request["Environment"] == {"MODE": "fast"}
    assert "EnableManagedSpotTraining" not in request


def test_the_kms_key_setting_encrypts_the_output(tmp_path: Path) -> None:
    from dataclasses import replace

    config = replace(CONFIG, kms_key="alias/smtrain")
    request = request_of(plan_fit(spec(tmp_path), config, root=ROOT, image_uri=IMAGE, role=ROLE), "training")
    assert request["OutputDataConfig"] == {"S3OutputPath": f"{ROOT}/output/", "KmsKeyId": "alias/smtrain"}
    request = request_of(plan_fit(spec(tmp_path, output_kms_key="key-out"), config, root=ROOT, image_uri=IMAGE,
                                  role=ROLE), "training")
    assert request["OutputDataConfig"]["KmsKeyId"] == "key-out"


def test_a_job_without_a_program_sends_no_empty_serving_variables() -> None:
    from smtrain.planning.plan import serving_environment

    assert serving_environment("", "", "eu-west-1") == {"SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                                                        "SAGEMAKER_REGION": "eu-west-1"}


def deploy(**kwargs: Any) -> tuple[Any, ...]:
    options = {"update": False, "suffix": "", "tags": None, **kwargs.pop("options", {})}
    return plan_deploy(
        DeploySpec(job_name="job-1", **kwargs), CONFIG, image_uri=IMAGE, role=ROLE,
        model_data="s3://bucket/smtrain/output/job-1/output/model.tar.gz",
        program="train.py", submit_directory=SOURCE, **options,
    )


def test_real_time_deploy_requests() -> None:
    plan = deploy(endpoint_name="penguins", instance_count=2, workers=3)
    environment = {
        "SAGEMAKER_PROGRAM": "train.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": SOURCE,
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": "eu-west-1",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
    }
    assert request_of(plan, "model") == {
        "ModelName": "penguins",
        "PrimaryContainer": {
            "Image": IMAGE, "ModelDataUrl": "s3://bucket/smtrain/output/job-1/output/model.tar.gz",
            "Environment": environment,
        },
        "ExecutionRoleArn": ROLE,
        "Tags": TAGS,
    }
    assert request_of(plan, "endpoint-config") == {
        "EndpointConfigName": "penguins",
        "ProductionVariants": [{
            "VariantName": "AllTraffic", "ModelName": "penguins", "InitialInstanceCount": 2,
            "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0,
        }],
        "Tags": TAGS,
    }
    assert request_of(plan, "endpoint") == {"EndpointName": "penguins", "EndpointConfigName": "penguins", "Tags": TAGS}
    assert plan[-1] == Wait("endpoint-ready", "sagemaker", "DescribeEndpoint", {"EndpointName": "penguins"},
                            "EndpointStatus", ("InService",), ("Failed", "UpdateRollbackFailed"))


def test_serverless_deploy_has_no_instances() -> None:
    plan = deploy(serverless_memory_mb=2048, serverless_max_concurrency=3)
    variant = request_of(plan, "endpoint-config")["ProductionVariants"][0]
    assert variant == {"VariantName": "AllTraffic", "ModelName": "job-1",
                       "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 3}}


def test_update_deploy_uses_new_names_and_update_endpoint() -> None:
    ttl = [{"Key": "smtrain:expires-at", "Value": "2030-01-01T00:00:00Z"}]
    plan = deploy(endpoint_name="penguins", options={"update": True, "suffix": "2030-01-01", "tags": ttl})
    assert request_of(plan, "model")["ModelName"] == "penguins-2030-01-01"
    assert request_of(plan, "model")["Tags"] == [*TAGS, *ttl]
    endpoint = next(s for s in plan if s.step == "endpoint")
    assert endpoint.operation == "UpdateEndpoint"
    assert endpoint.params == {"EndpointName": "penguins", "EndpointConfigName": "penguins-2030-01-01"}


JOB = {
    "TrainingJobName": "job-1",
    "TrainingJobStatus": "Completed",
    "ModelArtifacts": {"S3ModelArtifacts": "s3://bucket/smtrain/output/job-1/output/model.tar.gz"},
    "HyperParameters": {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": f'"{SOURCE}"',
                        "max_depth": "8"},
}


def test_register_plan_creates_group_package_and_waits() -> None:
    plan = plan_register(JOB, group="penguins", approve=False, image_uri=IMAGE, region="eu-west-1")
    assert [s.step for s in plan] == ["model-package-group", "model-package", "model-package-ready"]
    assert request_of(plan, "model-package-group") == {
        "ModelPackageGroupName": "penguins", "ModelPackageGroupDescription": "Models registered by smtrain",
        "Tags": TAGS,
    }
    assert request_of(plan, "model-package") == {
        "ModelPackageGroupName": "penguins",
        "ModelPackageDescription": "Trained by SageMaker training job job-1",
        "InferenceSpecification": {
            "Containers": [{
                "Image": IMAGE,
                "ModelDataUrl": "s3://bucket/smtrain/output/job-1/output/model.tar.gz",
                "Environment": {
                    "SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": SOURCE,
                    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": "eu-west-1",
                },
            }],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["application/json", "text/csv"],
        },
        "ModelApprovalStatus": "PendingManualApproval",
        "CustomerMetadataProperties": {"smtrain:training-job": "job-1", "smtrain:managed": "true"},
    }
    assert plan[-1] == Wait("model-package-ready", "sagemaker", "DescribeModelPackage",
                            {"ModelPackageName": Ref("model-package", "ModelPackageArn")},
                            "ModelPackageStatus", ("Completed",), ("Failed",))


def test_register_into_an_existing_group_approved() -> None:
    plan = plan_register(JOB, group="penguins", approve=True, image_uri=IMAGE, region="eu-west-1",
                         create_group=False)
    assert [s.operation for s in plan if not isinstance(s, Upload)] == ["CreateModelPackage", "DescribeModelPackage"]
    assert request_of(plan, "model-package")["ModelApprovalStatus"] == "Approved"


def test_register_refuses_a_job_without_a_model() -> None:
    with pytest.raises(UsageError, match="no model artifact") as caught:
        plan_register({"TrainingJobName": "job-2", "TrainingJobStatus": "Failed"}, group="g", approve=True,
                      image_uri=IMAGE, region="eu-west-1")
    assert "Completed" in caught.value.hint

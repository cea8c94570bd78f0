"""The local Model Registry answers like SageMaker's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from smtrain.backends.local.model_packages import RegistryAPI
from smtrain.backends.local.store.state import StateDB
from smtrain.planning.model_package import group_exists, plan_register

REGION = "eu-west-1"
GROUP_ARN = f"arn:aws:sagemaker:{REGION}:000000000000:model-package-group/penguins"
SPEC = {
    "Containers": [{"Image": "img", "ModelDataUrl": "file:///m.tar.gz", "Environment": {"SAGEMAKER_PROGRAM": "t.py"}}],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["application/json"],
}


class Registry(RegistryAPI):
    def __init__(self, path: Path) -> None:
        self.db = StateDB(path)
        self.region = REGION


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "state.db")


def error_of(call: Any, **params: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return dict(caught.value.response["Error"])


def package_arn(version: int, group: str = "penguins") -> str:
    return f"arn:aws:sagemaker:{REGION}:000000000000:model-package/{group}/{version}"


def test_group_lifecycle(registry: Registry) -> None:
    created = registry.create_model_package_group(ModelPackageGroupName="Penguins", ModelPackageGroupDescription="d")
    assert created == {"ModelPackageGroupArn": GROUP_ARN}
    described = registry.describe_model_package_group(ModelPackageGroupName="penguins")
    assert described["ModelPackageGroupName"] == "Penguins"
    assert described["ModelPackageGroupStatus"] == "Completed"
    assert described["ModelPackageGroupDescription"] == "d"
    assert isinstance(described["CreationTime"], dt.datetime) and described["CreationTime"].tzinfo
    assert "_local" not in described
    assert registry.describe_model_package_group(ModelPackageGroupName=GROUP_ARN)["ModelPackageGroupArn"] == GROUP_ARN
    assert group_exists(registry, "penguins") is True
    assert registry.delete_model_package_group(ModelPackageGroupName="penguins") == {}
    assert group_exists(registry, "penguins") is False


def test_group_errors(registry: Registry) -> None:
    registry.create_model_package_group(ModelPackageGroupName="penguins")
    duplicate = error_of(registry.create_model_package_group, ModelPackageGroupName="PENGUINS")
    assert duplicate["Code"] == "ValidationException" and "already exists" in duplicate["Message"]
    missing = error_of(registry.describe_model_package_group, ModelPackageGroupName="nope")
    assert missing == {"Code": "ValidationException",
                       "Message": f"ModelPackageGroup arn:aws:sagemaker:{REGION}:000000000000:model-package-group/nope"
                                  " does not exist."}
    invalid = error_of(registry.create_model_package_group, ModelPackageGroupName="bad_name")
    assert "failed to satisfy constraint" in invalid["Message"]


def test_versions_count_per_group(registry: Registry) -> None:
    registry.create_model_package_group(ModelPackageGroupName="penguins")
    registry.create_model_package_group(ModelPackageGroupName="other")
    arns = [registry.create_model_package(ModelPackageGroupName="penguins", InferenceSpecification=SPEC)
            ["ModelPackageArn"] for _ in range(3)]
    assert arns == [package_arn(1), package_arn(2), package_arn(3)]
    other = registry.create_model_package(ModelPackageGroupName=GROUP_ARN.replace("penguins", "other"),
                                          InferenceSpecification=SPEC)
    assert other["ModelPackageArn"] == package_arn(1, "other")


def test_describe_package(registry: Registry) -> None:
    registry.create_model_package_group(ModelPackageGroupName="penguins")
    registry.create_model_package(ModelPackageGroupName="penguins", InferenceSpecification=SPEC,
                                  ModelPackageDescription="first", CustomerMetadataProperties={"k": "v"})
    for name in (package_arn(1), "penguins/1"):
        package = registry.describe_model_package(ModelPackageName=name)
        assert package["ModelPackageArn"] == package_arn(1)
    assert package["ModelPackageName"] == "penguins" and package["ModelPackageGroupName"] == "penguins"
    assert package["ModelPackageVersion"] == 1
    assert package["ModelPackageStatus"] == "Completed"
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["InferenceSpecification"] == SPEC
    assert package["ModelPackageDescription"] == "first"
    assert package["CustomerMetadataProperties"] == {"k": "v"}
    missing = error_of(registry.describe_model_package, ModelPackageName=package_arn(9))
    assert missing["Message"] == f"ModelPackage {package_arn(9)} does not exist."


def test_package_errors(registry: Registry) -> None:
    no_group = error_of(registry.create_model_package, ModelPackageGroupName="nope", InferenceSpecification=SPEC)
    assert "does not exist" in no_group["Message"]
    registry.create_model_package_group(ModelPackageGroupName="penguins")
    no_spec = error_of(registry.create_model_package, ModelPackageGroupName="penguins")
    assert "InferenceSpecification" in no_spec["Message"]
    bad_status = error_of(registry.create_model_package, ModelPackageGroupName="penguins",
                          InferenceSpecification=SPEC, ModelApprovalStatus="Maybe")
    assert "modelApprovalStatus" in bad_status["Message"]
    unversioned = error_of(registry.create_model_package, ModelPackageName="solo", InferenceSpecification=SPEC)
    assert "versioned" in unversioned["Message"]


def test_approval_updates(registry: Registry) -> None:
    registry.create_model_package_group(ModelPackageGroupName="penguins")
    registry.create_model_package(ModelPackageGroupName="penguins", InferenceSpecification=SPEC,
                                  CustomerMetadataProperties={"keep": "1", "drop": "2"})
    before = registry.describe_model_package(ModelPackageName=package_arn(1))["LastModifiedTime"]
    updated = registry.update_model_package(ModelPackageArn=package_arn(1), ModelApprovalStatus="Approved",
                                            ApprovalDescription="ok", CustomerMetadataPropertiesToRemove=["drop"])
    assert updated == {"ModelPackageArn": package_arn(1)}
    package = registry.describe_model_package(ModelPackageName=package_arn(1))
    assert package["ModelApprovalStatus"] == "Approved" and package["ApprovalDescription"] == "ok"
    assert package["CustomerMetadataProperties"] == {"keep": "1"}
    assert package["LastModifiedTime"] >= before
    assert error_of(registry.update_model_package, ModelPackageArn=package_arn(5),
                    ModelApprovalStatus="Approved")["Code"] == "ValidationException"


def test_listing_filters_sorts_and_pages(registry: Registry) -> None:
    registry.create_model_package_group(ModelPackageGroupName="penguins")
    registry.create_model_package_group(ModelPackageGroupName="iris")
    for status in ("Approved", "PendingManualApproval", "Approved"):
        registry.create_model_package(ModelPackageGroupName="penguins", InferenceSpecification=SPEC,
                                      ModelApprovalStatus=status)
    groups = registry.list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in groups] == ["penguins", "iris"]
    by_name = registry.list_model_package_groups(SortBy="Name", NameContains="I")["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in by_name] == ["iris", "penguins"]

    newest_first = registry.list_model_packages(ModelPackageGroupName="penguins", SortOrder="Descending")
    summaries = newest_first["ModelPackageSummaryList"]
    assert [s["ModelPackageVersion"] for s in summaries] == [3, 2, 1]
    assert "ModelPackageName" not in summaries[0]  # as SageMaker: versioned summaries have none
    assert set(summaries[0]) == {"ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn", "CreationTime",
                                 "ModelPackageStatus", "ModelApprovalStatus"}
    approved = registry.list_model_packages(ModelPackageGroupName="penguins", ModelApprovalStatus="Approved")
    assert [s["ModelPackageVersion"] for s in approved["ModelPackageSummaryList"]] == [1, 3]
    first = registry.list_model_packages(ModelPackageGroupName="penguins", MaxResults=2)
    rest = registry.list_model_packages(ModelPackageGroupName="penguins", MaxResults=2, NextToken=first["NextToken"])
    assert [s["ModelPackageVersion"] for s in first["ModelPackageSummaryList"] + rest["ModelPackageSummaryList"]] \
        == [1, 2, 3]
    assert "NextToken" not in rest
    assert registry.list_model_packages()["ModelPackageSummaryList"] == []  # unversioned by default
    assert len(registry.list_model_packages(ModelPackageType="Versioned")["ModelPackageSummaryList"]) == 3


def test_group_with_packages_cannot_be_deleted(registry: Registry) -> None:
    registry.create_model_package_group(ModelPackageGroupName="penguins")
    registry.create_model_package(ModelPackageGroupName="penguins", InferenceSpecification=SPEC)
    conflict = error_of(registry.delete_model_package_group, ModelPackageGroupName="penguins")
    assert conflict["Code"] == "ConflictException"
    registry.delete_model_package(ModelPackageName=package_arn(1))
    registry.delete_model_package_group(ModelPackageGroupName="penguins")


def test_state_is_durable_across_instances(tmp_path: Path) -> None:
    Registry(tmp_path / "state.db").create_model_package_group(ModelPackageGroupName="penguins")
    Registry(tmp_path / "state.db").create_model_package(ModelPackageGroupName="penguins", InferenceSpecification=SPEC)
    again = Registry(tmp_path / "state.db").create_model_package(ModelPackageGroupName="penguins",
                                                                 InferenceSpecification=SPEC)
    assert again["ModelPackageArn"] == package_arn(2)


def test_a_register_plan_runs_against_the_local_registry(registry: Registry) -> None:
    from smtrain.planning.steps import ApiCall, Wait, method_name, resolve

    job = {"TrainingJobName": "job-1", "ModelArtifacts": {"S3ModelArtifacts": "file:///store/model.tar.gz"},
           "HyperParameters": {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": '"file:///s.tgz"'}}
    plan = plan_register(job, group="penguins", approve=True, image_uri="smtrain-local/sklearn", region=REGION,
                         create_group=not group_exists(registry, "penguins"))
    results: dict[str, Any] = {}
    for step in plan:
        assert isinstance(step, ApiCall | Wait)
        results[step.step] = getattr(registry, method_name(step.operation))(**resolve(step.params, results))
    final = results["model-package-ready"]
    assert final["ModelPackageStatus"] == "Completed" and final["ModelApprovalStatus"] == "Approved"
    assert final["InferenceSpecification"]["Containers"][0]["Environment"]["SAGEMAKER_PROGRAM"] == "train.py"
    assert final["CustomerMetadataProperties"]["smtrain:training-job"] == "job-1"

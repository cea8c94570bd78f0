"""The local Model Registry: model package groups and their versioned packages.

Shaped like ``boto3.client("sagemaker")``: PascalCase keyword arguments,
responses in the real shapes (timestamps as aware ``datetime``), errors as
``ClientError`` with SageMaker's codes. Names are unique regardless of case
and ARNs use the lower-cased name, as SageMaker's do. Only versioned model
packages (``ModelPackageGroupName``) exist here; versions count 1, 2, ...
per group, allocated in one transaction so concurrent registrations differ.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from smtrain.backends.local.errors import client_error
from smtrain.backends.local.store.state import StateDB, public

GROUP = "model-package-group"
PACKAGE = "model-package"
ACCOUNT = "000000000000"
NAME_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
TIME_FIELDS = ("CreationTime", "LastModifiedTime")


class RegistryAPI:
    db: StateDB
    region: str

    # -- groups ------------------------------------------------------------------------
    def create_model_package_group(
        self, *, ModelPackageGroupName: str, ModelPackageGroupDescription: str = "",
        Tags: list[dict[str, str]] | None = None, **_: Any,
    ) -> dict[str, Any]:
        name = _check_name(ModelPackageGroupName, "modelPackageGroupName", "CreateModelPackageGroup")
        arn = self._arn(GROUP, name)
        body = {
            "ModelPackageGroupName": name,
            "ModelPackageGroupArn": arn,
            "CreationTime": time.time(),
            "CreatedBy": {},
            "ModelPackageGroupStatus": "Completed",
            "_local": {"versions": 0, "tags": list(Tags or [])},
        }
        if ModelPackageGroupDescription:
            body["ModelPackageGroupDescription"] = ModelPackageGroupDescription
        if not self.db.insert(GROUP, name.lower(), body):
            raise client_error("CreateModelPackageGroup", "ValidationException",
                               f"Model Package Group already exists: {arn}")
        return {"ModelPackageGroupArn": arn}

    def describe_model_package_group(self, *, ModelPackageGroupName: str) -> dict[str, Any]:
        return _response(self._group(ModelPackageGroupName, "DescribeModelPackageGroup"))

    def list_model_package_groups(
        self, *, NameContains: str = "", SortBy: str = "CreationTime", SortOrder: str = "Ascending",
        MaxResults: int = 100, NextToken: str = "", **_: Any,
    ) -> dict[str, Any]:
        groups = [g for g in self.db.list(GROUP) if NameContains.lower() in g["ModelPackageGroupName"].lower()]
        groups = _sorted(groups, "ModelPackageGroupName" if SortBy == "Name" else "CreationTime", SortOrder)
        summary_keys = ("ModelPackageGroupName", "ModelPackageGroupArn", "ModelPackageGroupDescription",
                        "CreationTime", "ModelPackageGroupStatus")
        page, token = _page(groups, MaxResults, NextToken)
        response: dict[str, Any] = {
            "ModelPackageGroupSummaryList": [_response(_pick(g, summary_keys)) for g in page]
        }
        if token:
            response["NextToken"] = token
        return response

    def delete_model_package_group(self, *, ModelPackageGroupName: str) -> dict[str, Any]:
        group = self._group(ModelPackageGroupName, "DeleteModelPackageGroup")
        if self._packages_of(group["ModelPackageGroupName"]):
            raise client_error("DeleteModelPackageGroup", "ConflictException",
                               f"Model Package Group {group['ModelPackageGroupArn']} still has model packages; "
                               "delete them first")
        self.db.delete(GROUP, group["ModelPackageGroupName"].lower())
        return {}

    # -- packages -----------------------------------------------------------------------
    def create_model_package(
        self, *, ModelPackageGroupName: str = "", InferenceSpecification: dict[str, Any] | None = None,
        ModelPackageDescription: str = "", ModelApprovalStatus: str = "PendingManualApproval",
        CustomerMetadataProperties: dict[str, str] | None = None, ModelPackageName: str = "", **extra: Any,
    ) -> dict[str, Any]:
        operation = "CreateModelPackage"
        if ModelPackageName or not ModelPackageGroupName:
            raise client_error(operation, "ValidationException",
                               "the local registry holds versioned model packages only: "
                               "give ModelPackageGroupName and no ModelPackageName")
        if not InferenceSpecification or not InferenceSpecification.get("Containers"):
            raise client_error(operation, "ValidationException",
                               "InferenceSpecification with at least one container is required")
        _check_approval(ModelApprovalStatus, operation)
        group = self._group(ModelPackageGroupName, operation)
        name = group["ModelPackageGroupName"]
        version = self._next_version(name)
        now = time.time()
        body: dict[str, Any] = {
            "ModelPackageName": name,
            "ModelPackageGroupName": name,
            "ModelPackageVersion": version,
            "ModelPackageArn": self._arn(PACKAGE, f"{name}/{version}"),
            "CreationTime": now,
            "LastModifiedTime": now,
            "InferenceSpecification": InferenceSpecification,
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": []},
            "CertifyForMarketplace": False,
            "ModelApprovalStatus": ModelApprovalStatus,
            "CreatedBy": {},
            **{key: value for key, value in extra.items() if key in ("MetadataProperties", "ModelMetrics",
                                                                     "Domain", "Task", "SamplePayloadUrl")},
        }
        if ModelPackageDescription:
            body["ModelPackageDescription"] = ModelPackageDescription
        if CustomerMetadataProperties:
            body["CustomerMetadataProperties"] = dict(CustomerMetadataProperties)
        self.db.put(PACKAGE, _package_key(name, version), body)
        return {"ModelPackageArn": body["ModelPackageArn"]}

    def describe_model_package(self, *, ModelPackageName: str, **_: Any) -> dict[str, Any]:
        return _response(self._package(ModelPackageName, "DescribeModelPackage"))

    def list_model_packages(
        self, *, ModelPackageGroupName: str = "", ModelApprovalStatus: str = "", ModelPackageType: str = "",
        NameContains: str = "", SortBy: str = "CreationTime", SortOrder: str = "Ascending",
        MaxResults: int = 100, NextToken: str = "", **_: Any,
    ) -> dict[str, Any]:
        if ModelPackageGroupName:
            group = self._group(ModelPackageGroupName, "ListModelPackages")
            packages = self._packages_of(group["ModelPackageGroupName"])
        elif ModelPackageType in ("Versioned", "Both"):
            packages = self.db.list(PACKAGE)
        else:
            packages = []  # SageMaker lists unversioned packages by default; there are none here
        packages = [p for p in packages if not ModelApprovalStatus or p["ModelApprovalStatus"] == ModelApprovalStatus]
        packages = [p for p in packages if NameContains.lower() in p["ModelPackageName"].lower()]
        packages = _sorted(packages, "ModelPackageName" if SortBy == "Name" else "CreationTime", SortOrder)
        # Summaries of versioned packages carry no ModelPackageName, as on SageMaker.
        summary_keys = ("ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn", "ModelPackageDescription",
                        "CreationTime", "ModelPackageStatus", "ModelApprovalStatus")
        page, token = _page(packages, MaxResults, NextToken)
        response: dict[str, Any] = {"ModelPackageSummaryList": [_response(_pick(p, summary_keys)) for p in page]}
        if token:
            response["NextToken"] = token
        return response

    def update_model_package(
        self, *, ModelPackageArn: str, ModelApprovalStatus: str = "", ApprovalDescription: str = "",
        CustomerMetadataProperties: dict[str, str] | None = None,
        CustomerMetadataPropertiesToRemove: list[str] | None = None, **_: Any,
    ) -> dict[str, Any]:
        operation = "UpdateModelPackage"
        if ModelApprovalStatus:
            _check_approval(ModelApprovalStatus, operation)
        key = self._package_key_of(self._package(ModelPackageArn, operation))

        def change(body: dict[str, Any]) -> None:
            if ModelApprovalStatus:
                body["ModelApprovalStatus"] = ModelApprovalStatus
            if ApprovalDescription:
                body["ApprovalDescription"] = ApprovalDescription
            metadata = {**body.get("CustomerMetadataProperties", {}), **(CustomerMetadataProperties or {})}
            for name in CustomerMetadataPropertiesToRemove or []:
                metadata.pop(name, None)
            if metadata:
                body["CustomerMetadataProperties"] = metadata
            else:
                body.pop("CustomerMetadataProperties", None)
            body["LastModifiedTime"] = time.time()

        updated = self.db.update(PACKAGE, key, change)
        if updated is None:
            raise _missing_package(operation, ModelPackageArn)
        return {"ModelPackageArn": updated["ModelPackageArn"]}

    def delete_model_package(self, *, ModelPackageName: str) -> dict[str, Any]:
        package = self._package(ModelPackageName, "DeleteModelPackage")
        self.db.delete(PACKAGE, self._package_key_of(package))
        return {}

    # -- helpers -------------------------------------------------------------------------
    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:{kind}/{name.lower()}"

    def _group(self, name_or_arn: str, operation: str) -> dict[str, Any]:
        name = name_or_arn.rsplit(f"{GROUP}/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
        group = self.db.get(GROUP, name.lower())
        if group is None:
            raise client_error(operation, "ValidationException",
                               f"ModelPackageGroup {self._arn(GROUP, name)} does not exist.")
        return group

    def _next_version(self, group_name: str) -> int:
        def bump(body: dict[str, Any]) -> None:
            body["_local"]["versions"] += 1

        updated = self.db.update(GROUP, group_name.lower(), bump)
        if updated is None:
            raise client_error("CreateModelPackage", "ValidationException",
                               f"ModelPackageGroup {self._arn(GROUP, group_name)} does not exist.")
        return int(updated["_local"]["versions"])

    def _package(self, name_or_arn: str, operation: str) -> dict[str, Any]:
        name = name_or_arn.rsplit(f"{PACKAGE}/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
        group, _, version = name.rpartition("/")
        package = self.db.get(PACKAGE, _package_key(group, int(version))) if group and version.isdigit() else None
        if package is None:
            raise _missing_package(operation, self._arn(PACKAGE, name))
        return package

    def _packages_of(self, group_name: str) -> list[dict[str, Any]]:
        return [p for p in self.db.list(PACKAGE) if p["ModelPackageGroupName"].lower() == group_name.lower()]

    @staticmethod
    def _package_key_of(package: dict[str, Any]) -> str:
        return _package_key(package["ModelPackageGroupName"], package["ModelPackageVersion"])


def _package_key(group: str, version: int) -> str:
    return f"{group.lower()}/{version}"


def _missing_package(operation: str, arn: str) -> Exception:
    return client_error(operation, "ValidationException", f"ModelPackage {arn} does not exist.")


def _check_name(name: str, field: str, operation: str) -> str:
    if not re.fullmatch(NAME_PATTERN, name or ""):
        raise client_error(operation, "ValidationException",
                           f"1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: "
                           f"Member must satisfy regular expression pattern: {NAME_PATTERN}")
    return name


def _check_approval(status: str, operation: str) -> None:
    if status not in APPROVAL_STATUSES:
        raise client_error(operation, "ValidationException",
                           f"1 validation error detected: Value '{status}' at 'modelApprovalStatus' failed to "
                           f"satisfy constraint: Member must satisfy enum value set: [{', '.join(APPROVAL_STATUSES)}]")


def _response(body: dict[str, Any]) -> dict[str, Any]:
    """The body as boto3 returns it: private fields dropped, timestamps as aware datetimes."""
    result = public(body)
    for key in TIME_FIELDS:
        if key in result:
            result[key] = dt.datetime.fromtimestamp(result[key], tz=dt.timezone.utc)
    return result


def _pick(body: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: body[key] for key in keys if key in body}


def _sorted(items: list[dict[str, Any]], key: str, order: str) -> list[dict[str, Any]]:
    def sort_key(item: dict[str, Any]) -> Any:
        return (item[key], item.get("ModelPackageVersion", 0)) if key == "CreationTime" else item[key].lower()

    return sorted(items, key=sort_key, reverse=order == "Descending")


def _page(items: list[dict[str, Any]], max_results: int, token: str) -> tuple[list[dict[str, Any]], str]:
    start = int(token) if token.isdigit() else 0
    end = start + max(1, int(max_results))
    return items[start:end], (str(end) if end < len(items) else "")

"""The execution role, found as the SageMaker SDK v2 finds it, saying where it came from.

``Session.get_caller_identity_arn`` (sagemaker-python-sdk master-v2, ``sagemaker/session.py``):

1. ``/opt/ml/metadata/resource-metadata.json`` (notebook instances and Studio):
   its ``ExecutionRoleArn``; else, with no ``DomainId``, ``DescribeNotebookInstance``
   of its ``ResourceName``; else ``DescribeUserProfile`` (``UserSettings.ExecutionRole``),
   then ``DescribeDomain`` (``DefaultUserSettings.ExecutionRole``);
2. STS ``GetCallerIdentity``: an assumed-role ARN becomes the role's name, and
   ``iam:GetRole`` gives its real ARN, path included (``role/service-role/...``).

The metadata file's path is an argument (``Config.resource_metadata``), never read at import.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smtrain.aws.session import AwsSession
from smtrain.aws.translation import translating
from smtrain.core.errors import UsageError

METADATA_FILE = "/opt/ml/metadata/resource-metadata.json"
_ASSUMED_ROLE = re.compile(r"^(.+)sts::(\d+):assumed-role/(.+?)/.*$")  # the SDK's own pattern


@dataclass(frozen=True)
class Found:
    """A value and where it came from (``"SMTRAIN_ROLE (environment)"``, ``"DescribeNotebookInstance"``...)."""

    value: str
    source: str
    tried: tuple[str, ...] = field(default=(), compare=False)


def discover_role(session: AwsSession, metadata_file: str | Path = METADATA_FILE) -> Found:
    """The SDK's order; a usage error naming every step tried when none gives a role."""
    tried: list[str] = []
    found = _from_metadata(session, Path(metadata_file), tried)
    if found:
        return Found(found[0], found[1], tuple(tried))
    found = _from_caller_identity(session, tried)
    if found:
        return Found(found[0], found[1], tuple(tried))
    raise UsageError("no SageMaker execution role found", where="role",
                     hint="tried: " + "; ".join(tried) + ". Set SMTRAIN_ROLE (or --role, or `role` in smtrain.toml, "
                     "or SageMaker.TrainingJob.RoleArn in the SDK's config.yaml) to a role ARN or name")


def _from_metadata(session: AwsSession, path: Path, tried: list[str]) -> tuple[str, str] | None:
    if not path.is_file():
        tried.append(f"{path}: no such file (not a notebook instance or Studio)")
        return None
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        tried.append(f"{path}: unreadable ({exc})")
        return None
    if not isinstance(metadata, dict):
        tried.append(f"{path}: not a JSON object")
        return None
    if metadata.get("ExecutionRoleArn"):
        return str(metadata["ExecutionRoleArn"]), f"ExecutionRoleArn in {path}"
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _described_role(session, metadata, str(path))
    except (ClientError, BotoCoreError) as exc:  # the SDK, too, goes on to STS when these calls fail
        tried.append(f"{path}: {_describe_call(metadata)} failed ({exc})")
        return None


def _describe_call(metadata: dict[str, Any]) -> str:
    return "DescribeUserProfile/DescribeDomain" if metadata.get("DomainId") else "DescribeNotebookInstance"


def _described_role(session: AwsSession, metadata: dict[str, Any], path: str) -> tuple[str, str]:
    sagemaker = session.client("sagemaker")
    domain = metadata.get("DomainId")
    if not domain:
        name = str(metadata.get("ResourceName", ""))
        arn = sagemaker.describe_notebook_instance(NotebookInstanceName=name)["RoleArn"]
        return str(arn), f"DescribeNotebookInstance {name} (from {path})"
    user = str(metadata.get("UserProfileName", ""))
    profile = sagemaker.describe_user_profile(DomainId=domain, UserProfileName=user)
    if profile.get("UserSettings", {}).get("ExecutionRole"):
        return str(profile["UserSettings"]["ExecutionRole"]), f"DescribeUserProfile {domain}/{user} (from {path})"
    described = sagemaker.describe_domain(DomainId=domain)
    return str(described["DefaultUserSettings"]["ExecutionRole"]), f"DescribeDomain {domain} (from {path})"


def _from_caller_identity(session: AwsSession, tried: list[str]) -> tuple[str, str] | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        with translating(where="sts GetCallerIdentity"):
            caller = str(session.client("sts").get_caller_identity()["Arn"])
    except Exception as exc:
        tried.append(f"STS GetCallerIdentity failed ({getattr(exc, 'what', exc)})")
        return None
    role = _ASSUMED_ROLE.sub(r"\1iam::\2:role/\3", caller)
    if ":role/" not in role:
        tried.append(f"STS GetCallerIdentity: {caller} is not a role (a user's credentials cannot run jobs)")
        return None
    name = role[role.rfind("/") + 1:]
    try:
        arn = str(session.client("iam").get_role(RoleName=name)["Role"]["Arn"])
    except (ClientError, BotoCoreError):
        # As the SDK: without iam:GetRole the path is unknown; console-made roles live under service-role/.
        if "AmazonSageMaker-ExecutionRole" in caller:
            role = _ASSUMED_ROLE.sub(r"\1iam::\2:role/service-role/\3", caller)
        return role, f"STS GetCallerIdentity {caller} (iam:GetRole refused: path guessed)"
    return arn, f"STS GetCallerIdentity {caller}, then iam:GetRole {name}"

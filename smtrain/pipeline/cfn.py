"""The state machine as a CloudFormation template, with a least-privilege role for it.

The role may call only the SageMaker actions the definition uses, on names
that start with the pipeline's name (SageMaker writes names lower-case in
ARNs); pass only the execution role, to SageMaker only; and manage the one
EventBridge rule Step Functions uses to follow a training job (``.sync``).
"""

from __future__ import annotations

import re
from typing import Any

from .export import definition_hash

SYNC_RULE = "StepFunctionsGetEventsForSageMakerTrainingJobsRule"
# What each SageMaker action acts on; "*" where the action takes no resource-level permission.
RESOURCES = {
    "CreateTrainingJob": ["training-job/{prefix}-*"],
    "DescribeTrainingJob": ["training-job/*"],  # the champion's job may have any name
    "StopTrainingJob": ["training-job/{prefix}-*"],
    "AddTags": ["training-job/{prefix}-*", "model/{prefix}-*", "endpoint-config/{prefix}-*", "endpoint/{endpoint}",
                "model-package-group/{group}"],
    "CreateModel": ["model/{prefix}-*"],
    "DeleteModel": ["model/{prefix}-*"],
    "CreateEndpointConfig": ["endpoint-config/{prefix}-*"],
    "DeleteEndpointConfig": ["endpoint-config/{prefix}-*"],
    "DescribeEndpointConfig": ["endpoint-config/{prefix}-*"],
    "CreateEndpoint": ["endpoint/{endpoint}", "endpoint-config/{prefix}-*"],
    "UpdateEndpoint": ["endpoint/{endpoint}", "endpoint-config/{prefix}-*"],
    "DescribeEndpoint": ["endpoint/{endpoint}"],
    "DeleteEndpoint": ["endpoint/{endpoint}"],
    "DescribeModelPackageGroup": ["model-package-group/{group}"],
    "CreateModelPackageGroup": ["model-package-group/{group}"],
    "CreateModelPackage": ["model-package/{group}/*", "model-package-group/{group}"],
    "DescribeModelPackage": ["model-package/{group}/*"],
    "ListModelPackages": ["*"],
}
# Actions a Task needs besides the one it names: .sync stops a job when the execution is stopped.
IMPLIED = {"CreateTrainingJob": ["DescribeTrainingJob", "StopTrainingJob", "AddTags"],
           "CreateModel": ["AddTags"], "CreateEndpointConfig": ["AddTags"], "CreateEndpoint": ["AddTags"],
           "CreateModelPackageGroup": ["AddTags"]}


def actions_used(definition: dict[str, Any]) -> list[str]:
    """The SageMaker actions the definition's Tasks call."""
    found: set[str] = set()
    for state in definition["States"].values():
        if state.get("Type") != "Task":
            continue
        operation = state["Resource"].rsplit(":", 1)[1].removesuffix(".sync")
        action = operation[0].upper() + operation[1:]
        found.add(action)
        found.update(IMPLIED.get(action, []))
    return sorted(found)


def sagemaker_arn(resource: str) -> dict[str, str] | str:
    if resource == "*":
        return "*"
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:sagemaker:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


def policy(exported: Any) -> dict[str, Any]:
    spec, definition = exported.spec, exported.definition
    names = {"prefix": spec.name, "endpoint": (spec.deploy.endpoint_name or spec.name).lower(),
             "group": spec.group.lower()}
    statements: list[dict[str, Any]] = []
    for action in actions_used(definition):
        resources = [sagemaker_arn(r.format(**names)) for r in RESOURCES[action]]
        statements.append({"Sid": re.sub(r"[^A-Za-z0-9]", "", action), "Effect": "Allow",
                           "Action": f"sagemaker:{action}", "Resource": resources})
    statements.append({"Sid": "PassExecutionRole", "Effect": "Allow", "Action": "iam:PassRole",
                       "Resource": exported.role,
                       "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}})
    statements.append({"Sid": "FollowTrainingJobs", "Effect": "Allow",
                       "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                       "Resource": {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:"
                                               f"rule/{SYNC_RULE}"}})
    return {"Version": "2012-10-17", "Statement": statements}


def template(exported: Any) -> dict[str, Any]:
    definition = exported.definition
    name = exported.spec.name
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"smtrain pipeline {name}: train, gate, register and deploy ({definition_hash(definition)})",
        "Metadata": {"smtrain": {"pipeline": name, "plan": definition_hash(definition),
                                 "uploads": [u.uri for u in exported.uploads]}},
        "Resources": {
            "StateMachineRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                        "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"},
                        "Action": "sts:AssumeRole"}]},
                    "Policies": [{"PolicyName": f"{name}-pipeline", "PolicyDocument": policy(exported)}],
                },
            },
            "StateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": name,
                    "RoleArn": {"Fn::GetAtt": ["StateMachineRole", "Arn"]},
                    "Definition": definition,
                    "Tags": [{"Key": "smtrain:managed", "Value": "true"},
                             {"Key": "smtrain:plan", "Value": definition_hash(definition)}],
                },
            },
        },
        "Outputs": {"StateMachineArn": {"Value": {"Ref": "StateMachine"}}},
    }

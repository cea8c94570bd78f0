"""The state machine as a CloudFormation template, with a least-privilege role for it.

The role may call only the SageMaker actions the definition uses, on names
that start with the pipeline's name (SageMaker writes names lower-case in
ARNs); pass only the execution role, to SageMaker only; and manage the one
EventBridge rule Step Functions uses to follow each kind of job it waits for (``.sync``).
"""

from __future__ import annotations

import re
from typing import Any

from smtrain.planning.kinds import KINDS, JobKind

from .export import definition_hash

# What each SageMaker action acts on; "*" where the action takes no resource-level permission.
# Every job kind's create, describe and stop come from its definition (see job_resources).
RESOURCES = {
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
    # createHyperParameterTuningJob.sync lists its trials (Step Functions guide); ListTags: see resources_of.
    "ListTrainingJobsForHyperParameterTuningJob": ["hyper-parameter-tuning-job/{prefix}-*"],
}
TAGGED = ["model/{prefix}-*", "endpoint-config/{prefix}-*", "endpoint/{endpoint}", "model-package-group/{group}"]
# Actions a Task needs besides the one it names: .sync stops a job when the execution is stopped.
IMPLIED = {"CreateModel": ["AddTags"], "CreateEndpointConfig": ["AddTags"], "CreateEndpoint": ["AddTags"],
           "CreateModelPackageGroup": ["AddTags"],
           **{kind.create: [kind.describe, kind.stop, *kind.extra_actions] for kind in KINDS}}


def job_resources(kind: JobKind) -> dict[str, list[str]]:
    """A kind's own actions: its jobs are named after the pipeline; a described one may have any name
    (the champion's job)."""
    mine = [f"{kind.arn_type}/{{prefix}}-*"]
    return {kind.create: mine, kind.describe: [f"{kind.arn_type}/*"], kind.stop: mine}


def resources_of(action: str, kinds: list[JobKind]) -> list[str]:
    if action == "AddTags":
        return [*(f"{kind.arn_type}/{{prefix}}-*" for kind in kinds), *TAGGED]
    if action == "ListTags":  # the .sync tasks of the kinds that read their job's tags
        return [f"{kind.arn_type}/{{prefix}}-*" for kind in kinds if "ListTags" in kind.extra_actions]
    for kind in KINDS:
        if action in job_resources(kind):
            return job_resources(kind)[action]
    return RESOURCES[action]


def kinds_created(definition: dict[str, Any]) -> list[JobKind]:
    """The job kinds whose create the definition calls, in KINDS order."""
    actions = set(actions_used(definition))
    return [kind for kind in KINDS if kind.create in actions]


def kinds_followed(definition: dict[str, Any]) -> list[JobKind]:
    """The job kinds the definition creates and waits for with ``.sync`` (each needs its EventBridge rule)."""
    resources = {state.get("Resource") for state in definition["States"].values() if state.get("Type") == "Task"}
    return [kind for kind in KINDS if kind.sync_resource in resources]


def actions_used(definition: dict[str, Any]) -> list[str]:
    """The SageMaker actions the definition's Tasks call."""
    found: set[str] = set()
    for state in definition["States"].values():
        if state.get("Type") != "Task" or not state["Resource"].split(":::", 1)[-1].removeprefix("aws-sdk:") \
                .startswith("sagemaker:"):
            continue
        operation = state["Resource"].rsplit(":", 1)[1].removesuffix(".sync")
        action = operation[0].upper() + operation[1:]
        found.add(action)
        found.update(IMPLIED.get(action, []))
    return sorted(found)


def objects_read(definition: dict[str, Any]) -> list[str]:
    """The S3 objects the definition's ``s3:getObject`` Tasks read, as ARN patterns (``bucket/prefix-*``):
    each Task's Bucket and the literal start of its Key (the Evaluate step's report of each execution)."""
    from .checks import GET_OBJECT

    found = []
    for state in definition["States"].values():
        if state.get("Type") == "Task" and state["Resource"] == GET_OBJECT:
            parameters = state["Parameters"]
            found.append(f"{parameters['Bucket']}/{key_start(parameters)}*")
    return sorted(set(found))


def key_start(parameters: dict[str, Any]) -> str:
    """A getObject Key, or the literal text before the first placeholder of its ``States.Format``."""
    if "Key" in parameters:
        return str(parameters["Key"])
    match = re.match(r"States\.Format\('((?:[^'{\\]|\\.)*)", str(parameters.get("Key.$", "")))
    return re.sub(r"\\(.)", r"\1", match[1]) if match else ""


def sagemaker_arn(resource: str) -> dict[str, str] | str:
    if resource == "*":
        return "*"
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:sagemaker:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


def policy(exported: Any) -> dict[str, Any]:
    spec, definition = exported.spec, exported.definition
    names = {"prefix": spec.name, "endpoint": (spec.deploy.endpoint_name or spec.name).lower(),
             "group": spec.group.lower()}
    statements: list[dict[str, Any]] = []
    created = kinds_created(definition)
    for action in actions_used(definition):
        resources = [sagemaker_arn(r.format(**names)) for r in resources_of(action, created)]
        statements.append({"Sid": re.sub(r"[^A-Za-z0-9]", "", action), "Effect": "Allow",
                           "Action": f"sagemaker:{action}", "Resource": resources})
    statements.append({"Sid": "PassExecutionRole", "Effect": "Allow", "Action": "iam:PassRole",
                       "Resource": exported.role,
                       "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}})
    read = objects_read(definition)
    if read:  # the gate reads the Evaluate step's evaluation.json
        statements.append({"Sid": "ReadEvaluationReports", "Effect": "Allow", "Action": "s3:GetObject",
                           "Resource": [{"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{pattern}"} for pattern in read]})
    for kind in kinds_followed(definition):
        statements.append({"Sid": f"Follow{kind.resource}s", "Effect": "Allow",
                           "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                           "Resource": {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:"
                                                   f"${{AWS::AccountId}}:rule/{kind.sync_rule}"}})
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

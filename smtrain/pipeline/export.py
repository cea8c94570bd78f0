"""A pipeline as an Amazon States Language document: train -> gate -> register -> deploy.

Every step is a service integration (no Lambda). The state is kept as
``$.args`` (settings after the execution input is merged over the exported
defaults), ``$.names`` (resource names from ``$$.Execution.Name``),
``$.training``, ``$.gate``, ``$.endpoint`` and, on the failure path, ``$.error``.
A model the gate stops is registered as ``Rejected`` (kept for the record,
never approved) and is not deployed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from smtrain.config import Config

from . import requests
from .spec import PipelineSpec

SAGEMAKER = "arn:aws:states:::sagemaker:"
SDK = "arn:aws:states:::aws-sdk:sagemaker:"
THROTTLING = ["SageMaker.ThrottlingException"]
TRANSIENT = [*THROTTLING, "SageMaker.InternalFailure", "SageMaker.ServiceUnavailable"]
FIRST_WAIT, LONGEST_WAIT = 30, 240  # seconds between endpoint polls: doubling spares the 25,000-event history
CLEAN_UP = "Clean up"


def retry(errors: list[str]) -> list[dict[str, Any]]:
    return [{"ErrorEquals": errors, "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2.0}]


def task(resource: str, parameters: dict[str, Any], next_state: str, *, result_path: str | None,
         retry_on: list[str] | None = None, result_selector: dict[str, Any] | None = None,
         catch: str = CLEAN_UP) -> dict[str, Any]:
    """A Task that retries only throttling/transient errors and sends every other error to ``catch``."""
    state: dict[str, Any] = {"Type": "Task", "Resource": resource, "Parameters": parameters}
    if result_selector:
        state["ResultSelector"] = result_selector
    state["ResultPath"] = result_path
    state["Retry"] = retry(retry_on if retry_on is not None else TRANSIENT)
    if catch:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": catch}]
    state["Next"] = next_state
    return state


def input_states(spec: PipelineSpec, defaults: dict[str, Any], sdk: dict[str, Any]) -> dict[str, Any]:
    """Refuse mistyped input, then merge the input over the exported defaults."""
    return {
        "Check input": {"Type": "Choice", "Choices": [{"Or": type_checks(defaults), "Next": "Invalid input"}],
                        "Default": "Apply defaults"},
        "Invalid input": {"Type": "Fail", "Error": "InvalidInput", "Cause": describe_input(defaults)},
        "Apply defaults": {"Type": "Pass", "Next": "Merge input", "Parameters": {
            "defaults": defaults, "empty": {"channels": {}, "hyperparameters": {}}, "input.$": "$"}},
        "Merge input": {"Type": "Pass", "Next": "Resolve settings", "Parameters": {
            "defaults.$": "$.defaults", "input.$": "States.JsonMerge($.empty, $.input, false)"}},
        "Resolve settings": {"Type": "Pass", "Next": "Train", "Parameters": {
            "args.$": "States.JsonMerge($.defaults, $.input, false)",
            "channels.$": "States.JsonMerge($.defaults.channels, $.input.channels, false)",
            "hyperparameters.$": "States.JsonMerge($.defaults.hyperparameters, $.input.hyperparameters, false)",
            "sdk": sdk,
            "names": {"model.$": requests.resource_name(spec, "model"),
                      "config.$": requests.resource_name(spec, "config")},
            "endpoint": {"created": False},
        }},
    }


JSON_TYPES = {str: ("IsString", "string"), int: ("IsNumeric", "number"), float: ("IsNumeric", "number")}


def type_checks(defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """Choice rules true when a given key has the wrong type (unknown keys are caught by the runner and `start`)."""
    rules = []
    for key, value in defaults.items():
        path = f"$.{key}"
        if isinstance(value, dict):
            not_object = [{"Variable": path, test: True} for test in ("IsString", "IsNumeric", "IsBoolean", "IsNull")]
            rules.append({"And": [{"Variable": path, "IsPresent": True}, {"Or": not_object}]})
            rules += [wrong_type(f"{path}[{requests.literal(k)}]", str) for k in value]
        else:
            rules.append(wrong_type(path, type(value)))
    return rules


def wrong_type(path: str, expected: type) -> dict[str, Any]:
    test = JSON_TYPES[expected][0]
    return {"And": [{"Variable": path, "IsPresent": True}, {"Not": {"Variable": path, test: True}}]}


def describe_input(defaults: dict[str, Any]) -> str:
    parts = []
    for key, value in defaults.items():
        if isinstance(value, dict):
            parts.append(f"{key} (an object of strings; keys: {', '.join(value) or 'any'})")
        else:
            parts.append(f"{key} ({JSON_TYPES[type(value)][1]})")
    return "the execution input has a value of the wrong type; it accepts: " + "; ".join(parts)


def train_state(spec: PipelineSpec, parameters: dict[str, Any]) -> dict[str, Any]:
    selector = {"TrainingJobName.$": "$.TrainingJobName", "ModelArtifacts.$": "$.ModelArtifacts",
                "TrainingImage.$": "$.AlgorithmSpecification.TrainingImage"}
    if spec.gate.enabled:
        selector["Metric.$"] = metric_filter(spec.gate.metric)
    return {"Train": task(SAGEMAKER + "createTrainingJob.sync", parameters, "Find group",
                          result_path="$.training", result_selector=selector)}


def metric_filter(metric: str) -> str:
    return f"$.FinalMetricDataList[?(@.MetricName == {requests.literal(metric)})].Value"


def gate_states(spec: PipelineSpec) -> dict[str, Any]:
    """Read the job's metric; compare with the threshold, then with the champion's."""
    gate = spec.gate
    after_threshold = "Find champion" if gate.champion else "Approve"
    states: dict[str, Any] = {
        "Has metric": {"Type": "Choice", "Choices": [
            {"Variable": "$.training.Metric[0]", "IsPresent": True, "Next": "Read metric"}], "Default": "No metric"},
        "No metric": {"Type": "Fail", "Error": "MetricMissing",
                      "Cause": f"the training job reported no {gate.metric}: check its metric definition's regex"},
        "Read metric": {"Type": "Pass", "ResultPath": "$.metric", "Next": "Check threshold" if gate.threshold
                        is not None else after_threshold,
                        "Parameters": {"value.$": "States.ArrayGetItem($.training.Metric, 0)"}},
    }
    if gate.threshold is not None:
        states["Check threshold"] = compare("$.args.threshold", after_threshold, gate.minimize)
    if gate.champion:
        states.update(champion_states(spec))
    return states


def compare(other: str, passed: str, minimize: bool) -> dict[str, Any]:
    test = "NumericLessThanEqualsPath" if minimize else "NumericGreaterThanEqualsPath"
    return {"Type": "Choice", "Choices": [{"Variable": "$.metric.value", test: other, "Next": passed}],
            "Default": "Reject"}


def champion_states(spec: PipelineSpec) -> dict[str, Any]:
    """The champion is the newest Approved package in the group; its metric is its training job's."""
    return {
        "Find champion": task(SDK + "listModelPackages", {
            "ModelPackageGroupName": spec.group, "ModelApprovalStatus": "Approved",
            "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 1},
            "Has champion", result_path="$.champion", result_selector={"Packages.$": "$.ModelPackageSummaryList"}),
        "Has champion": {"Type": "Choice", "Choices": [
            {"Variable": "$.champion.Packages[0]", "IsPresent": True, "Next": "Describe champion"}],
            "Default": "Approve"},
        "Describe champion": task(SDK + "describeModelPackage", {
            "ModelPackageName.$": "$.champion.Packages[0].ModelPackageArn"}, "Champion's job",
            result_path="$.champion", result_selector={
                "TrainingJobName.$": "$.CustomerMetadataProperties['smtrain:training-job']"}),
        "Champion's job": task(SDK + "describeTrainingJob", {"TrainingJobName.$": "$.champion.TrainingJobName"},
                               "Champion has metric", result_path="$.champion",
                               result_selector={"Metric.$": metric_filter(spec.gate.metric)}),
        # A champion whose job did not report the metric cannot be compared: the threshold alone decides.
        "Champion has metric": {"Type": "Choice", "Choices": [
            {"Variable": "$.champion.Metric[0]", "IsPresent": True, "Next": "Champion's metric"}],
            "Default": "Approve"},
        "Champion's metric": {"Type": "Pass", "ResultPath": "$.champion", "Next": "Beat champion",
                              "Parameters": {"value.$": "States.ArrayGetItem($.champion.Metric, 0)"}},
        "Beat champion": compare("$.champion.value", "Approve", spec.gate.minimize),
    }


def register_states(spec: PipelineSpec, params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The group first (the champion lives there), then the package, Rejected if the gate stopped it."""
    approval = "Approved" if spec.approve else "PendingManualApproval"
    after_group = "Has metric" if spec.gate.enabled else "Approve"
    states: dict[str, Any] = {
        "Find group": task(SDK + "describeModelPackageGroup", {"ModelPackageGroupName": spec.group}, after_group,
                           result_path=None, catch=""),
        "Create group": task(SDK + "createModelPackageGroup", params["group"], after_group,
                             result_path=None, retry_on=THROTTLING),
        "Approve": {"Type": "Pass", "Result": {"status": approval, "verdict": "passed"}, "ResultPath": "$.gate",
                    "Next": "Register"},
        "Register": task(SDK + "createModelPackage", params["package"], "Promoted", result_path="$.package",
                         retry_on=THROTTLING, result_selector={"ModelPackageArn.$": "$.ModelPackageArn"}),
        "Promoted": {"Type": "Choice", "Choices": [
            {"Variable": "$.gate.status", "StringEquals": "Rejected", "Next": "Not deployed"}],
            "Default": "Create model"},
        "Not deployed": {"Type": "Succeed", "Comment": "the gate stopped this model; it is registered as Rejected"},
    }
    # A missing group is the only error expected here: create it (a real failure shows at Create group).
    states["Find group"]["Catch"] = [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": None,
                                      "Next": "Create group"}]
    if spec.gate.enabled:
        states["Reject"] = {"Type": "Pass", "Result": {"status": "Rejected", "verdict": "stopped by the gate"},
                            "ResultPath": "$.gate", "Next": "Register"}
    return states


def deploy_states(params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Model, config, then create or update the endpoint (DescribeEndpoint decides) and wait for InService."""
    return {
        "Create model": task(SAGEMAKER + "createModel", params["model"], "Create endpoint config",
                             result_path=None, retry_on=THROTTLING),
        "Create endpoint config": task(SAGEMAKER + "createEndpointConfig", params["config"], "Find endpoint",
                                       result_path=None, retry_on=THROTTLING),
        "Find endpoint": {**task(SDK + "describeEndpoint", {"EndpointName.$": "$.args.endpoint_name"},
                                 "Update endpoint", result_path="$.previous", catch="",
                                 result_selector={"EndpointConfigName.$": "$.EndpointConfigName"}),
                          "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": None,
                                     "Next": "Mark endpoint created"}]},
        "Mark endpoint created": {"Type": "Pass", "Result": {"created": True}, "ResultPath": "$.endpoint",
                                  "Next": "Create endpoint"},
        "Create endpoint": task(SAGEMAKER + "createEndpoint", params["create"], "Start waiting",
                                result_path=None, retry_on=THROTTLING),
        "Update endpoint": task(SAGEMAKER + "updateEndpoint", params["update"], "Start waiting",
                                result_path=None, retry_on=THROTTLING),
        "Start waiting": {"Type": "Pass", "Result": {"seconds": FIRST_WAIT}, "ResultPath": "$.wait",
                          "Next": "Wait for endpoint"},
        "Wait for endpoint": {"Type": "Wait", "SecondsPath": "$.wait.seconds", "Next": "Check endpoint"},
        "Check endpoint": task(SDK + "describeEndpoint", {"EndpointName.$": "$.args.endpoint_name"},
                               "Endpoint ready", result_path="$.status"),
        "Endpoint ready": {"Type": "Choice", "Choices": [
            {"And": [{"Variable": "$.status.EndpointStatus", "StringEquals": "InService"},
                     {"Variable": "$.status.EndpointConfigName", "StringEqualsPath": "$.names.config"}],
             "Next": "Updated"},
            {"Variable": "$.status.EndpointStatus", "StringEquals": "InService", "Next": "Update rolled back"},
            {"Or": [{"Variable": "$.status.EndpointStatus", "StringEquals": "Failed"},
                    {"Variable": "$.status.EndpointStatus", "StringEquals": "UpdateRollbackFailed"},
                    {"Variable": "$.status.EndpointStatus", "StringEquals": "OutOfService"}],
             "Next": "Endpoint failed"}],
            "Default": "Back off"},
        "Back off": {"Type": "Choice", "Choices": [
            {"Variable": "$.wait.seconds", "NumericGreaterThanEquals": LONGEST_WAIT, "Next": "Wait for endpoint"}],
            "Default": "Double the wait"},
        "Double the wait": {"Type": "Pass", "ResultPath": "$.wait", "Next": "Wait for endpoint",
                            "Parameters": {"seconds.$": "States.MathAdd($.wait.seconds, $.wait.seconds)"}},
        "Endpoint failed": {"Type": "Pass", "ResultPath": "$.error", "Next": CLEAN_UP, "Parameters": {
            "Error": "EndpointFailed", "Cause.$": "States.Format('endpoint {}: {}', $.status.EndpointStatus, "
                                                 "$.status.FailureReason)"}},
        "Update rolled back": {"Type": "Pass", "ResultPath": "$.error", "Next": CLEAN_UP, "Parameters": {
            "Error": "UpdateRolledBack", "Cause": "the endpoint update failed; it still serves the previous model"}},
        **retire_states(),
        "Deployed": {"Type": "Succeed"},
    }


def retire_states() -> dict[str, Any]:
    """After an update, remove the config and model the endpoint no longer uses (as `smtrain deploy` does)."""

    def best_effort(operation: str, parameters: dict[str, Any], next_state: str, **extra: Any) -> dict[str, Any]:
        return {**task(SDK + operation, parameters, next_state, catch="", **{"result_path": None, **extra}),
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Deployed"}]}

    return {
        "Updated": {"Type": "Choice", "Choices": [
            {"Variable": "$.endpoint.created", "BooleanEquals": True, "Next": "Deployed"}],
            "Default": "Describe previous config"},
        "Describe previous config": best_effort(
            "describeEndpointConfig", {"EndpointConfigName.$": "$.previous.EndpointConfigName"},
            "Delete previous config", result_path="$.previous",
            result_selector={"EndpointConfigName.$": "$.EndpointConfigName",
                             "Models.$": "$.ProductionVariants[*].ModelName"}),
        "Delete previous config": best_effort(
            "deleteEndpointConfig", {"EndpointConfigName.$": "$.previous.EndpointConfigName"},
            "Delete previous model"),
        "Delete previous model": best_effort(
            "deleteModel", {"ModelName.$": "States.ArrayGetItem($.previous.Models, 0)"}, "Deployed"),
    }


def cleanup_states() -> dict[str, Any]:
    """Remove what this execution created; an endpoint it only updated keeps serving."""

    def delete(operation: str, parameters: dict[str, Any], next_state: str) -> dict[str, Any]:
        return {**task(SDK + operation, parameters, next_state, result_path=None, catch=""),
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": next_state}]}

    return {
        CLEAN_UP: {"Type": "Choice", "Choices": [
            {"Variable": "$.endpoint.created", "BooleanEquals": True, "Next": "Delete endpoint"}],
            "Default": "Delete endpoint config"},
        "Delete endpoint": delete("deleteEndpoint", {"EndpointName.$": "$.args.endpoint_name"},
                                  "Delete endpoint config"),
        "Delete endpoint config": delete("deleteEndpointConfig", {"EndpointConfigName.$": "$.names.config"},
                                         "Delete model"),
        "Delete model": delete("deleteModel", {"ModelName.$": "$.names.model"}, "Failed"),
        "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
    }


def export_definition(spec: PipelineSpec, config: Config, *, root: str, image_uri: str, role: str
                      ) -> dict[str, Any]:
    """The state machine; its Comment carries the hash of everything else in it."""
    region = config.resolved_region()
    plan = requests.fit_plan(spec, config, root=root, image_uri=image_uri, role=role)
    training, defaults = requests.training_parameters(spec, plan, root)
    if spec.gate.threshold is not None:
        defaults["threshold"] = float(spec.gate.threshold)
    defaults["endpoint_name"] = spec.deploy.endpoint_name or spec.name
    states: dict[str, Any] = input_states(spec, defaults, requests.sdk_hyperparameters(plan))
    states.update(train_state(spec, training))
    register = requests.register_parameters(spec, plan, image_uri=image_uri, region=region)
    states.update({k: v for k, v in register_states(spec, register).items() if k.endswith("group")})
    if spec.gate.enabled:
        states.update(gate_states(spec))
    states.update(register_states(spec, register))
    states.update(deploy_states(requests.deploy_parameters(spec, plan, config, role=role, region=region)))
    states.update(cleanup_states())
    body = {"StartAt": "Check input", "TimeoutSeconds": spec.timeout_seconds, "States": states}
    return {"Comment": f"smtrain pipeline {spec.name}; plan {plan_hash(body)}", **body}


def plan_hash(body: dict[str, Any]) -> str:
    """A short hash of a definition without its Comment."""
    content = {k: v for k, v in body.items() if k != "Comment"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def definition_hash(definition: dict[str, Any]) -> str:
    """The hash a definition's Comment claims (empty when it has none)."""
    comment = str(definition.get("Comment", ""))
    return comment.rpartition("plan ")[2] if "plan sha256:" in comment else ""


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"

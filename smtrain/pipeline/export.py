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

from smtrain.core.config import Config
from smtrain.core.errors import UsageError
from smtrain.planning.kinds import TRAINING, TRANSFORM

from . import requests
from .inputs import input_states
from .spec import PipelineSpec

SAGEMAKER = "arn:aws:states:::sagemaker:"
SDK = "arn:aws:states:::aws-sdk:sagemaker:"
# Step Functions names an error of the optimized integration (sagemaker:) by the Java SDK's exception class:
# a throttled or otherwise unmodelled error is SageMaker.AmazonSageMakerException, a modelled one keeps its
# name (SageMaker.ResourceLimitExceededException); see the Retry in the training job example of
# https://docs.aws.amazon.com/step-functions/latest/dg/connect-sagemaker.html
# An aws-sdk: integration names it <Service>.<Error>, "Exception" appended; an error the service model does
# not list (throttling, validation) is SageMaker.SageMakerException:
# https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html
# Throttling thus has no name of its own: the retry matches the generic name, three times at most (a
# validation error costs ~35 s before the failure path); a modelled error (limits, not found, in use) and a
# failed job (States.TaskFailed) are never retried.
OPTIMIZED_TRANSIENT = ["SageMaker.AmazonSageMakerException"]
SDK_TRANSIENT = ["SageMaker.SageMakerException"]
FIRST_WAIT, LONGEST_WAIT = 30, 240  # seconds between endpoint polls: doubling spares the 25,000-event history
PACKAGE_FIRST_WAIT, PACKAGE_LONGEST_WAIT = 5, 60
CLEAN_UP = "Clean up"
# SageMaker's messages (ValidationException) for a missing endpoint and for one that exists already; the
# local backend and moto word them the same way.
NOT_FOUND = "Could not find endpoint "
ALREADY_EXISTS = "Cannot create already existing endpoint "
GROUP_EXISTS = "Model Package Group already exists"


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
    transient = SDK_TRANSIENT if resource.startswith(SDK) else OPTIMIZED_TRANSIENT
    errors = retry_on if retry_on is not None else transient
    if errors:
        state["Retry"] = retry(errors)
    if catch:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": catch}]
    state["Next"] = next_state
    return state


def train_state(spec: PipelineSpec, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"Train": task(TRAINING.sync_resource, parameters, "Find group",
                          result_path="$.training", result_selector=training_selector(spec))}


def training_selector(spec: PipelineSpec) -> dict[str, str]:
    """What the train step (or, with --tune, the best trial's description) leaves at ``$.training``."""
    selector = {"TrainingJobName.$": "$.TrainingJobName", "ModelArtifacts.$": "$.ModelArtifacts",
                "TrainingImage.$": "$.AlgorithmSpecification.TrainingImage"}
    if spec.gate.enabled:
        selector["Metric.$"] = metric_filter(spec.gate.metric)
    return selector


def metric_filter(metric: str) -> str:
    return f"$.FinalMetricDataList[?(@.MetricName == {requests.literal(metric)})].Value"


def gate_states(spec: PipelineSpec, report: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read the job's metric (or, for ``evaluation:NAME``, the Evaluate step's ``report``); compare with the
    threshold, then with the champion's."""
    gate = spec.gate
    if gate.evaluation_metric:
        assert report is not None
        return {**evaluation_gate_states(spec, report),
                "Check threshold": compare("$.args.threshold", "Approve", gate.minimize)}
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


def evaluation_gate_states(spec: PipelineSpec, report: dict[str, Any]) -> dict[str, Any]:
    """The metric from this execution's evaluation.json, read by the state machine itself: ``s3:getObject``
    (its Body is the object as a string) parsed by ``States.StringToJson``; the report has one section per
    problem type (``multiclass_classification_metrics``, ...), so the value is ``$.*.<NAME>.value``."""
    from .checks import GET_OBJECT

    name = spec.gate.evaluation_metric
    missing = {"Type": "Fail", "Error": "MetricMissing",
               "Cause": f"the evaluation report has no {name}: its script must write "
                        f'{{"<problem>_metrics": {{"{name}": {{"value": <number>}}}}}} to evaluation.json'}
    return {
        "Has metric": {"Type": "Task", "Resource": GET_OBJECT, "Parameters": report, "ResultPath": "$.evaluation",
                       "ResultSelector": {"report.$": "States.StringToJson($.Body)"}, "Next": "Read metric",
                       "Catch": [{"ErrorEquals": ["S3.NoSuchKeyException"], "ResultPath": "$.error",
                                  "Next": "No metric"}]},
        "No metric": missing,
        "Read metric": {"Type": "Pass", "ResultPath": "$.metric", "Next": "Found metric",
                        "Parameters": {"values.$": f"$.evaluation.report.*.{name}.value"}},
        "Found metric": {"Type": "Choice", "Choices": [
            {"And": [{"Variable": "$.metric.values[0]", "IsPresent": True},
                     {"Variable": "$.metric.values[0]", "IsNumeric": True}], "Next": "Pick metric"}],
            "Default": "No metric"},
        "Pick metric": {"Type": "Pass", "ResultPath": "$.metric", "Next": "Check threshold",
                        "Parameters": {"value.$": "States.ArrayGetItem($.metric.values, 0)"}},
    }


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
        # A probe: its expected error (no group) must not wait out retries, so it has none.
        "Find group": task(SDK + "describeModelPackageGroup", {"ModelPackageGroupName": spec.group}, after_group,
                           result_path=None, catch="", retry_on=[]),
        "Create group": {**task(SDK + "createModelPackageGroup", params["group"], after_group, result_path=None),
                         "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                    "Next": "Existing group"}]},
        # Another execution created it since Find group (first registrations racing): use it.
        "Existing group": {"Type": "Choice", "Choices": [
            {"Variable": "$.error.Cause", "StringMatches": f"*{GROUP_EXISTS}*", "Next": after_group}],
            "Default": CLEAN_UP},
        "Approve": {"Type": "Pass", "Result": {"status": approval, "verdict": "passed"}, "ResultPath": "$.gate",
                    "Next": "Register"},
        "Register": task(SDK + "createModelPackage", params["package"], "Start package wait",
                         result_path="$.package", result_selector={"ModelPackageArn.$": "$.ModelPackageArn"}),
        **package_wait_states(),
        "Promoted": {"Type": "Choice", "Choices": [
            {"Variable": "$.gate.status", "StringEquals": "Rejected", "Next": "Not deployed"}],
            "Default": "Set expiry" if spec.deploy.ttl_seconds else "Create model"},
        "Not deployed": {"Type": "Succeed", "Comment": "the gate stopped this model; it is registered as Rejected"},
    }
    # A missing group is the only error expected here: create it (a real failure shows at Create group).
    states["Find group"]["Catch"] = [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": None,
                                      "Next": "Create group"}]
    if spec.gate.enabled:
        states["Reject"] = {"Type": "Pass", "Result": {"status": "Rejected", "verdict": "stopped by the gate"},
                            "ResultPath": "$.gate", "Next": "Register"}
    return states


def package_wait_states() -> dict[str, Any]:
    """Wait until the model package is Completed (DescribeModelPackage), backing off as the endpoint wait does."""
    return {
        "Start package wait": {"Type": "Pass", "Result": {"seconds": PACKAGE_FIRST_WAIT}, "ResultPath": "$.wait",
                               "Next": "Check package"},
        "Check package": task(SDK + "describeModelPackage", {"ModelPackageName.$": "$.package.ModelPackageArn"},
                              "Package ready", result_path="$.package", result_selector={
                                  "ModelPackageArn.$": "$.ModelPackageArn",
                                  "ModelPackageStatus.$": "$.ModelPackageStatus"}),
        "Package ready": {"Type": "Choice", "Choices": [
            {"Variable": "$.package.ModelPackageStatus", "StringEquals": "Completed", "Next": "Promoted"},
            {"Variable": "$.package.ModelPackageStatus", "StringEquals": "Failed", "Next": "Package failed"}],
            "Default": "Wait for package"},
        "Wait for package": {"Type": "Wait", "SecondsPath": "$.wait.seconds", "Next": "Package back off"},
        **back_off("Package back off", "Double the package wait", PACKAGE_LONGEST_WAIT, "Check package"),
        "Package failed": {"Type": "Pass", "ResultPath": "$.error", "Next": CLEAN_UP, "Parameters": {
            "Error": "ModelPackageFailed",
            "Cause.$": "States.Format('model package {} failed its validation', $.package.ModelPackageArn)"}},
    }


def expiry_state(ttl_seconds: int) -> dict[str, Any]:
    """The ``smtrain:expires-at`` time, as `smtrain deploy --ttl` writes it: JSONata has the date arithmetic."""
    expires = (f"$fromMillis($millis() + {ttl_seconds * 1000}, "
               f"'[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01]Z')")
    return {"Set expiry": {"Type": "Pass", "QueryLanguage": "JSONata", "Next": "Create model",
                           "Output": f"{{% $merge([$states.input, {{'expires_at': {expires}}}]) %}}"}}


def transform_states(parameters: dict[str, Any], *, endpoint: bool) -> dict[str, Any]:
    """The batch step on the model just created (createTransformJob.sync), then the endpoint, or the end."""
    return {
        "Transform": task(TRANSFORM.sync_resource, parameters, "Create endpoint config" if endpoint else "Transformed",
                          result_path="$.transform", result_selector={
                              "TransformJobName.$": "$.TransformJobName",
                              "S3OutputPath.$": "$.TransformOutput.S3OutputPath"}),
        **({} if endpoint else {"Transformed": {"Type": "Succeed"}}),
    }


def model_state(params: dict[str, dict[str, Any]], next_state: str) -> dict[str, Any]:
    return {"Create model": task(SAGEMAKER + "createModel", params["model"], next_state,
                                 result_path="$.created.model", result_selector={"ModelArn.$": "$.ModelArn"})}


def deploy_states(params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Model, config, then create or update the endpoint (DescribeEndpoint decides) and wait for InService."""
    return {
        **model_state(params, "Create endpoint config"),
        "Create endpoint config": task(SAGEMAKER + "createEndpointConfig", params["config"], "Find endpoint",
                                       result_path="$.created.config",
                                       result_selector={"EndpointConfigArn.$": "$.EndpointConfigArn"}),
        **find_endpoint_states(),
        "Create endpoint": {**task(SAGEMAKER + "createEndpoint", params["create"], "Start waiting",
                                   result_path="$.created.endpoint",
                                   result_selector={"EndpointArn.$": "$.EndpointArn"}),
                            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                       "Next": "Endpoint conflict?"}]},
        # Another execution created the endpoint between Find endpoint and here: it is theirs, left as it is.
        "Endpoint conflict?": {"Type": "Choice", "Choices": [
            {"Variable": "$.error.Cause", "StringMatches": f"*{ALREADY_EXISTS}*", "Next": "Endpoint conflict"}],
            "Default": CLEAN_UP},
        "Endpoint conflict": {"Type": "Pass", "ResultPath": "$.error", "Next": CLEAN_UP, "Parameters": {
            "Error": "EndpointConflict",
            "Cause.$": "States.Format('endpoint {} was created by another execution while this one ran; it is "
                       "left as it is (run this one again to update it)', $.args.endpoint_name)"}},
        "Update endpoint": task(SAGEMAKER + "updateEndpoint", params["update"], "Start waiting",
                                result_path=None),
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
        **back_off("Back off", "Double the wait", LONGEST_WAIT, "Wait for endpoint"),
        "Endpoint failed": {"Type": "Pass", "ResultPath": "$.error", "Next": CLEAN_UP, "Parameters": {
            "Error": "EndpointFailed", "Cause.$": "States.Format('endpoint {}: {}', $.status.EndpointStatus, "
                                                 "$.status.FailureReason)"}},
        "Update rolled back": {"Type": "Pass", "ResultPath": "$.error", "Next": CLEAN_UP, "Parameters": {
            "Error": "UpdateRolledBack", "Cause": "the endpoint update failed; it still serves the previous model"}},
        **retire_states(),
        "Deployed": {"Type": "Succeed"},
    }


def find_endpoint_states() -> dict[str, Any]:
    """DescribeEndpoint decides between update and create; only "not found" means create.

    SageMaker answers a missing endpoint with a ValidationException ('Could not find endpoint "<arn>".'),
    which Step Functions reports as the generic SageMaker.SageMakerException: only the cause tells it from a
    throttle or a denied call. Any other error fails the execution, and the endpoint is not touched.
    """
    return {
        "Find endpoint": {**task(SDK + "describeEndpoint", {"EndpointName.$": "$.args.endpoint_name"},
                                 "Update endpoint", result_path="$.previous", catch="", retry_on=[],
                                 result_selector={"EndpointConfigName.$": "$.EndpointConfigName"}),
                          "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.lookup",
                                     "Next": "Endpoint missing?"}]},
        "Endpoint missing?": {"Type": "Choice", "Choices": [
            {"Variable": "$.lookup.Cause", "StringMatches": f"*{NOT_FOUND}*", "Next": "Create endpoint"}],
            "Default": "Lookup failed"},
        # Any other error: nothing is deleted, not even what this execution made (it says what is left).
        "Lookup failed": {"Type": "Fail", "ErrorPath": "$.lookup.Error", "CausePath": "$.lookup.Cause"},
    }


def retire_states() -> dict[str, Any]:
    """After an update, remove the config and model the endpoint no longer uses (as `smtrain deploy` does)."""

    def best_effort(operation: str, parameters: dict[str, Any], next_state: str, **extra: Any) -> dict[str, Any]:
        return {**task(SDK + operation, parameters, next_state, catch="", **{"result_path": None, **extra}),
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Deployed"}]}

    return {
        "Updated": {"Type": "Choice", "Choices": [
            {"Variable": "$.created.endpoint", "IsPresent": True, "Next": "Deployed"}],
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


def cleanup_states(*, endpoint: bool = True) -> dict[str, Any]:
    """Remove what this execution recorded as created, and nothing else.

    An endpoint it created is deleted only while it still serves this execution's config: another
    execution may have updated it since. An endpoint it only updated keeps serving. A pipeline without an
    endpoint (``--no-endpoint``) has only a model to remove.
    """

    def delete(operation: str, parameters: dict[str, Any], next_state: str) -> dict[str, Any]:
        return {**task(SDK + operation, parameters, next_state, result_path=None, catch=""),
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": next_state}]}

    def created(what: str, then: str, otherwise: str) -> dict[str, Any]:
        return {"Type": "Choice", "Choices": [{"Variable": f"$.created.{what}", "IsPresent": True, "Next": then}],
                "Default": otherwise}

    if not endpoint:
        return {CLEAN_UP: created("model", "Delete model", "Failed"),
                "Delete model": delete("deleteModel", {"ModelName.$": "$.names.model"}, "Failed"),
                "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}}
    return {
        CLEAN_UP: created("endpoint", "Check own endpoint", "Config created?"),
        "Check own endpoint": {**task(SDK + "describeEndpoint", {"EndpointName.$": "$.args.endpoint_name"},
                                      "Still own endpoint?", result_path="$.current", catch="",
                                      result_selector={"EndpointConfigName.$": "$.EndpointConfigName"}),
                               "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None,
                                          "Next": "Config created?"}]},
        "Still own endpoint?": {"Type": "Choice", "Choices": [
            {"Variable": "$.current.EndpointConfigName", "StringEqualsPath": "$.names.config",
             "Next": "Delete endpoint"}], "Default": "Config created?"},
        "Delete endpoint": delete("deleteEndpoint", {"EndpointName.$": "$.args.endpoint_name"}, "Config created?"),
        "Config created?": created("config", "Delete endpoint config", "Model created?"),
        "Delete endpoint config": delete("deleteEndpointConfig", {"EndpointConfigName.$": "$.names.config"},
                                         "Model created?"),
        "Model created?": created("model", "Delete model", "Failed"),
        "Delete model": delete("deleteModel", {"ModelName.$": "$.names.model"}, "Failed"),
        "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
    }


def export_definition(spec: PipelineSpec, config: Config, *, root: str, image_uri: str, role: str
                      ) -> dict[str, Any]:
    """The state machine; its Comment carries the hash of everything else in it."""
    region = config.resolved_region()
    plan = requests.fit_plan(spec, config, root=root, image_uri=image_uri, role=role)
    training, defaults = requests.training_parameters(spec, plan, root)
    if spec.preprocess is not None:
        from . import preprocess

        preprocess.bind_channels(spec, training, defaults, root)
    defaults.update(_input_defaults(spec))
    states: dict[str, Any] = input_states(spec, defaults, requests.sdk_hyperparameters(plan))
    states.update(_training_states(spec, config, plan, training, states, root=root, image_uri=image_uri, role=role))
    register = requests.register_parameters(spec, plan, image_uri=image_uri, region=region)
    if spec.evaluation is not None:
        states.update(_evaluation_states(spec, config, register, states, root=root, image_uri=image_uri, role=role))
    states.update({k: v for k, v in register_states(spec, register).items() if k.endswith("group")})
    if spec.gate.enabled:
        states.update(gate_states(spec, _report_object(spec, config, root)))
    states.update(register_states(spec, register))
    if spec.deploy.ttl_seconds:
        states.update(expiry_state(spec.deploy.ttl_seconds))
    states.update(_delivery_states(spec, config, plan, root=root, role=role, region=region))
    body = {"StartAt": "Check input", "TimeoutSeconds": spec.timeout_seconds, "States": states}
    return {"Comment": f"smtrain pipeline {spec.name}; plan {plan_hash(body)}", **body}


def _report_object(spec: PipelineSpec, config: Config, root: str) -> dict[str, Any] | None:
    """Where the gate reads an ``evaluation:`` metric (None for a gate on a training metric)."""
    if not spec.gate.evaluation_metric:
        return None
    if spec.evaluation is None:
        raise UsageError(f"--gate-metric {spec.gate.metric} reads the Evaluate step's report, and there is none",
                         where="--gate-metric", hint="add --evaluate-code FILE --evaluate-input test=URI")
    from .evaluation import report_object

    return report_object(spec, root, config.home / "store")


def _input_defaults(spec: PipelineSpec) -> dict[str, Any]:
    """The execution input's defaults the gate, the endpoint and the batch step read."""
    defaults: dict[str, Any] = {}
    if spec.gate.threshold is not None:
        defaults["threshold"] = float(spec.gate.threshold)
    if spec.endpoint:
        defaults["endpoint_name"] = spec.deploy.endpoint_name or spec.name
    if spec.transform is not None:
        defaults["transform_input"] = spec.transform.input_uri
    return defaults


def _training_states(spec: PipelineSpec, config: Config, plan: Any, training: dict[str, Any],
                     states: dict[str, Any], *, root: str, image_uri: str, role: str) -> dict[str, Any]:
    """Train (or Tune and its best trial), and Preprocess before it; ``states``' "Resolve settings" is re-pointed."""
    added: dict[str, Any] = {}
    if spec.tuning is not None:
        from .tuning import tune_states

        added.update(tune_states(spec, spec.tuning, training, requests.call_params(plan, "training"),
                                 training_selector(spec), task))
        states["Resolve settings"]["Next"] = "Tune"
    else:
        added.update(train_state(spec, training))
    if spec.preprocess is not None:
        from . import preprocess

        prepared = preprocess.preprocess_plan(spec, config, root=root, image_uri=image_uri, role=role)
        added.update(preprocess.preprocess_state(preprocess.preprocess_parameters(spec, prepared, root), task,
                                                 states["Resolve settings"]["Next"]))
        states["Resolve settings"]["Next"] = "Preprocess"
    return added


def _evaluation_states(spec: PipelineSpec, config: Config, register: dict[str, Any], states: dict[str, Any], *,
                       root: str, image_uri: str, role: str) -> dict[str, Any]:
    """Evaluate after the model is trained; the registered package carries its report as ModelMetrics."""
    from . import evaluation

    evaluate = evaluation.evaluate_plan(spec, config, root=root, image_uri=image_uri, role=role)
    evaluate_parameters = evaluation.evaluate_parameters(spec, evaluate, root)
    if spec.preprocess is not None:
        from . import preprocess

        preprocess.bind_test_input(spec, evaluate_parameters, root)
    added = evaluation.evaluate_state(spec, evaluate_parameters, task)
    states["Best trial" if spec.tuning is not None else "Train"]["Next"] = "Evaluate"
    evaluation.with_model_metrics(spec, register["package"], root)
    return added


def _delivery_states(spec: PipelineSpec, config: Config, plan: Any, *, root: str, role: str, region: str
                     ) -> dict[str, Any]:
    """The endpoint, the batch step, or both, and the clean-up on failure."""
    added: dict[str, Any] = {}
    deployment = requests.deploy_parameters(spec, plan, config, role=role, region=region)
    if spec.endpoint:
        added.update(deploy_states(deployment))
    if spec.transform is not None:
        added.update(model_state(deployment, "Transform"))
        added.update(transform_states(requests.transform_parameters(spec, config, root), endpoint=spec.endpoint))
    added.update(cleanup_states(endpoint=spec.endpoint))
    return added


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


def back_off(choice: str, double: str, longest: int, then: str) -> dict[str, Any]:
    """Two states that double ``$.wait.seconds`` up to ``longest``, then go on to ``then``."""
    return {
        choice: {"Type": "Choice", "Choices": [
            {"Variable": "$.wait.seconds", "NumericGreaterThanEquals": longest, "Next": then}],
            "Default": double},
        double: {"Type": "Pass", "ResultPath": "$.wait", "Next": then,
                 "Parameters": {"seconds.$": "States.MathAdd($.wait.seconds, $.wait.seconds)"}},
    }

"""The state machine in AWS Step Functions: create or update it, start it, report on an execution."""

from __future__ import annotations

import json
from typing import Any

from smtrain.core.errors import NotFoundError, UsageError

from .export import definition_hash


def stepfunctions(session: Any) -> Any:
    if session.backend.name != "sagemaker":
        raise UsageError("Step Functions runs in AWS: this needs the sagemaker backend", where="pipeline",
                         hint="add --backend sagemaker, or run it here with `smtrain pipeline run --local`")
    return session.backend.aws.client("stepfunctions")


def state_machine_role_arn(session: Any, role: str) -> str:
    """A role name becomes its ARN, as ``--role`` does: Step Functions takes ARNs only."""
    from smtrain.aws.session import expand_role

    return expand_role(session.backend.aws, role)


def find_state_machine(sfn: Any, name: str) -> str:
    """The ARN of the state machine called ``name``, or "" if there is none."""
    from smtrain.aws.translation import translating

    with translating(where="stepfunctions ListStateMachines"):
        for page in sfn.get_paginator("list_state_machines").paginate():
            for machine in page.get("stateMachines", []):
                if machine["name"] == name:
                    return str(machine["stateMachineArn"])
    return ""


def deploy(sfn: Any, name: str, definition: dict[str, Any], role_arn: str) -> tuple[str, bool]:
    """Create the state machine, or update its definition; returns its ARN and whether it is new."""
    from smtrain.aws.translation import translating

    text = json.dumps(definition)
    arn = find_state_machine(sfn, name)
    with translating(where=f"state machine {name}"):
        if arn:
            sfn.update_state_machine(stateMachineArn=arn, definition=text, roleArn=role_arn)
            return arn, False
        created = sfn.create_state_machine(name=name, definition=text, roleArn=role_arn, type="STANDARD",
                                           tags=[{"key": "smtrain:managed", "value": "true"}])
    return str(created["stateMachineArn"]), True


def require(sfn: Any, name: str) -> str:
    arn = find_state_machine(sfn, name)
    if not arn:
        raise NotFoundError(f"no state machine called {name!r}", where="pipeline",
                            hint="deploy it first: `smtrain pipeline deploy --backend sagemaker ...`")
    return arn


def start(sfn: Any, name: str, execution_input: dict[str, Any], execution_name: str) -> str:
    from smtrain.aws.translation import translating

    arn = require(sfn, name)
    with translating(where=f"state machine {name}"):
        started = sfn.start_execution(stateMachineArn=arn, name=execution_name, input=json.dumps(execution_input))
    return str(started["executionArn"])


def status(sfn: Any, name: str, execution: str, current: dict[str, Any] | None) -> dict[str, Any]:
    """The deployed definition against the current export (if given), and one execution state by state."""
    from smtrain.aws.translation import translating

    arn = require(sfn, name)
    with translating(where=f"state machine {name}"):
        deployed = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
        report: dict[str, Any] = {"stateMachineArn": arn, "deployedPlan": definition_hash(deployed),
                                  "currentPlan": definition_hash(current) if current else ""}
        report["upToDate"] = report["deployedPlan"] == report["currentPlan"] if current else None
        execution_arn = execution_arn_for(sfn, arn, execution)
        if execution_arn:
            report["execution"] = describe(sfn, execution_arn)
    return report


def execution_arn_for(sfn: Any, machine_arn: str, execution: str) -> str:
    if execution.startswith("arn:"):
        return execution
    if execution:
        return machine_arn.replace(":stateMachine:", ":execution:") + f":{execution}"
    recent = sfn.list_executions(stateMachineArn=machine_arn, maxResults=1).get("executions", [])
    return str(recent[0]["executionArn"]) if recent else ""


def describe(sfn: Any, execution_arn: str) -> dict[str, Any]:
    description = sfn.describe_execution(executionArn=execution_arn)
    states: dict[str, str] = {}
    last_output: dict[str, Any] = {}
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        for event in page.get("events", []):
            record_event(event, states, last_output)
    return {"name": description.get("name"), "status": description.get("status"), "states": states,
            **summary(last_output), "error": description.get("error", ""), "cause": description.get("cause", "")}


def record_event(event: dict[str, Any], states: dict[str, str], last_output: dict[str, Any]) -> None:
    kind = str(event.get("type", ""))
    if kind.endswith("StateEntered"):
        states[event["stateEnteredEventDetails"]["name"]] = "entered"
    elif kind.endswith("StateExited"):
        details = event["stateExitedEventDetails"]
        states[details["name"]] = "succeeded"
        try:
            output = json.loads(details.get("output") or "{}")
        except ValueError:
            output = {}
        if isinstance(output, dict):
            last_output.update(output)
    elif kind in ("TaskFailed", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
        entered = [name for name, state in states.items() if state == "entered"]
        if entered:
            states[entered[-1]] = "failed"


def summary(output: dict[str, Any]) -> dict[str, Any]:
    """The training job, the gate's verdict and the endpoint, from the state's data."""
    training, gate, args = output.get("training", {}), output.get("gate", {}), output.get("args", {})
    return {"trainingJob": training.get("TrainingJobName", ""),
            "gate": gate.get("verdict", "") and f"{gate.get('verdict')} ({gate.get('status')})",
            "endpoint": args.get("endpoint_name", "")}

"""`pipeline status` on Step Functions: each state, the training job, the gate's verdict, the endpoint."""

from __future__ import annotations

import json
from typing import Any

from smtrain.pipeline.deployment import describe, execution_arn_for

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:penguins"


def entered(name: str) -> dict[str, Any]:
    return {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}}


def exited(name: str, output: dict[str, Any]) -> dict[str, Any]:
    return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name, "output": json.dumps(output)}}


class FakeStepFunctions:
    """Answers as Step Functions does for a failed execution's history."""

    events = [
        entered("Train"),
        exited("Train", {"training": {"TrainingJobName": "penguins-e1-train-0"}, "args": {"endpoint_name": "ep"}}),
        entered("Reject"),
        exited("Reject", {"training": {"TrainingJobName": "penguins-e1-train-0"}, "args": {"endpoint_name": "ep"},
                          "gate": {"status": "Rejected", "verdict": "stopped by the gate"}}),
        entered("Register"),
        {"type": "TaskFailed", "taskFailedEventDetails": {"error": "SageMaker.ThrottlingException"}},
        {"type": "ExecutionFailed"},
    ]

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {"name": "e1", "status": "FAILED", "error": "SageMaker.ThrottlingException", "cause": "Rate exceeded"}

    def get_paginator(self, operation: str) -> Any:
        assert operation == "get_execution_history"
        events = self.events

        class Pages:
            def paginate(self, executionArn: str) -> list[dict[str, Any]]:
                return [{"events": events[:3]}, {"events": events[3:]}]

        return Pages()


def test_status_reads_the_history() -> None:
    report = describe(FakeStepFunctions(), f"{MACHINE}:e1")
    assert report["states"] == {"Train": "succeeded", "Reject": "succeeded", "Register": "failed"}
    assert report["trainingJob"] == "penguins-e1-train-0"
    assert report["gate"] == "stopped by the gate (Rejected)"
    assert report["endpoint"] == "ep"
    assert (report["status"], report["error"]) == ("FAILED", "SageMaker.ThrottlingException")


def test_an_execution_is_named_or_an_arn() -> None:
    assert execution_arn_for(None, MACHINE, "e1") == "arn:aws:states:us-east-1:123456789012:execution:penguins:e1"
    assert execution_arn_for(None, MACHINE, "arn:aws:states:x") == "arn:aws:states:x"

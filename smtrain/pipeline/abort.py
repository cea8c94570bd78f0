"""After Ctrl-C in a local execution: remove what it created, and say exactly what is left.

Step Functions runs no Catch when an execution is stopped; the local runner rolls back instead, by
the same rule as the definition's "Clean up": only what this execution made. Its model and config
carry its name, which no other execution has (the name is reserved), so they are its own if they
exist. The endpoint is its own only if it created it (recorded, or stopped inside "Create endpoint")
and the endpoint still serves its config.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

CREATING_ENDPOINT = "Create endpoint"


@dataclass
class Rollback:
    removed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # each with how to remove it
    kept: list[str] = field(default_factory=list)  # records that stay on purpose

    def lines(self) -> list[str]:
        out = [f"rolled back: removed {item}" for item in self.removed]
        out += [f"left behind: {item}" for item in self.left]
        out += [f"kept: {item}" for item in self.kept]
        return out or ["nothing to roll back: the execution had created nothing"]


def roll_back(client: Any, execution: Any) -> Rollback:
    """Delete this execution's endpoint, config, model and package; what cannot be deleted is listed."""
    data = execution.data if isinstance(execution.data, dict) else {}
    names, created = data.get("names", {}), data.get("created", {})
    endpoint = data.get("args", {}).get("endpoint_name", "")
    stopped_in = next((e.state for e in reversed(execution.history) if e.kind == "Entered"), "")
    result = Rollback()
    if endpoint and names.get("config") and ("endpoint" in created or stopped_in == CREATING_ENDPOINT):
        remove_endpoint(client, endpoint, names["config"], result)
    for kind, name in (("endpoint config", names.get("config")), ("model", names.get("model"))):
        if name:
            remove(client, kind, name, result)
    package = data.get("package", {}).get("ModelPackageArn") if isinstance(data.get("package"), dict) else None
    if package:
        remove(client, "model package", package, result)
    job = data.get("training", {}).get("TrainingJobName") if isinstance(data.get("training"), dict) else None
    if job:
        result.kept.append(f"training job {job} (the run's record; `smtrain ls` lists it)")
    return result


def remove_endpoint(client: Any, endpoint: str, config: str, result: Rollback) -> None:
    try:
        serving = client.describe_endpoint(EndpointName=endpoint).get("EndpointConfigName")
    except ClientError:
        return  # not there: nothing to remove
    if serving != config:
        return  # another execution's since; it stays
    try:
        client.delete_endpoint(EndpointName=endpoint)
        result.removed.append(f"endpoint {endpoint}")
    except ClientError as exc:
        result.left.append(f"endpoint {endpoint} ({message(exc)}); remove it with `smtrain teardown {endpoint}`")


DELETE = {"endpoint config": ("delete_endpoint_config", "EndpointConfigName"),
          "model": ("delete_model", "ModelName"), "model package": ("delete_model_package", "ModelPackageName")}


def remove(client: Any, kind: str, name: str, result: Rollback) -> None:
    operation, parameter = DELETE[kind]
    try:
        getattr(client, operation)(**{parameter: name})
        result.removed.append(f"{kind} {name}")
    except ClientError as exc:
        if "Could not find" in message(exc) or "does not exist" in message(exc):
            return  # it was never made
        result.left.append(f"{kind} {name} ({message(exc)}); remove it with SageMaker's "
                           f"{operation.title().replace('_', '')} ({parameter}={name})")


def message(exc: ClientError) -> str:
    with contextlib.suppress(Exception):
        return str(exc.response["Error"]["Message"])
    return str(exc)

"""A SageMaker job kind as data: what every layer of smtrain needs to know about it.

The planner's wait, name reservation, following a job and its log, ``stop`` and
``logs``, the listing, the Step Functions exporter and runner, and the
CloudFormation role all read a :class:`JobKind` instead of knowing "training".
A new kind is one module beside this one, added to :data:`smtrain.planning.kinds.KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smtrain.planning.steps import Wait


@dataclass(frozen=True)
class Column:
    """A column a kind adds to ``ls`` and ``show``: its header and where its value is in the Describe response."""

    header: str
    path: str  # dotted, e.g. "ResourceConfig.InstanceType"

    def value(self, description: dict[str, Any]) -> Any:
        value: Any = description
        for part in self.path.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value


@dataclass(frozen=True)
class JobKind:
    """One SageMaker job kind. Operation and key names are the API's own (checked against botocore's model)."""

    key: str  # the word users type: "training", "processing", ...
    noun: str  # in messages: "training job"
    resource: str  # the API's resource name: "TrainingJob"
    create: str
    describe: str
    stop: str
    list: str
    name_key: str
    status_key: str
    arn_key: str
    success: tuple[str, ...]
    failure: tuple[str, ...]
    log_group: str  # CloudWatch Logs group of the job's containers ("" when the kind has no log of its own)
    arn_type: str  # arn:aws:sagemaker:REGION:ACCOUNT:<arn_type>/NAME
    sync_rule: str  # the EventBridge rule Step Functions manages to follow a ``.sync`` task of this kind
    start_time_key: str = ""  # Describe's start and end timestamps ("TrainingStartTime", "TrainingEndTime")
    end_time_key: str = ""
    duration_keys: tuple[str, ...] = ()  # whole seconds from start to end ("TrainingTimeInSeconds", ...)
    columns: tuple[Column, ...] = ()
    # Actions a Step Functions role needs besides create, describe and stop (AddTags: tags on create).
    extra_actions: tuple[str, ...] = ("AddTags",)

    @property
    def terminal(self) -> tuple[str, ...]:
        return self.success + self.failure

    @property
    def sync_resource(self) -> str:
        """The optimized integration that creates a job of this kind and waits for it."""
        return f"arn:aws:states:::sagemaker:{self.create[0].lower()}{self.create[1:]}.sync"

    @property
    def summaries_key(self) -> str:
        """Where a ``List*`` response holds its jobs (``TrainingJobSummaries``)."""
        return f"{self.resource}Summaries"

    @property
    def iam_actions(self) -> tuple[str, ...]:
        return (self.create, self.describe, self.stop, *self.extra_actions)

    def wait(self, step: str, name: str) -> Wait:
        """The plan step that waits for the job ``name`` to end."""
        return Wait(step, "sagemaker", self.describe, {self.name_key: name}, self.status_key, self.success,
                    self.failure)

    def log_stream_prefix(self, name: str) -> str:
        """SageMaker names a job's log streams ``<job>/<host>-<epoch>``."""
        return f"{name}/"

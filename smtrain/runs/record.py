"""A run: one training job, local or on SageMaker, as ``ls``, ``show`` and ``diff`` see it.

Built from a ``DescribeTrainingJob``-shaped body (the local record, or a
SageMaker ``Search`` result). Times are kept as ISO strings, hyperparameters
as the API carries them (JSON strings) and decoded only when asked for.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

from smtrain.core import metric_values
from smtrain.planning.kinds import TRAINING, JobKind

SMTRAIN_TAG_PREFIX = "smtrain:"


@dataclass
class Run:
    name: str
    backend: str
    status: str
    created: str = ""
    started: str = ""
    ended: str = ""
    encoded_hyperparameters: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    arn: str = ""
    image: str = ""
    instance_type: str = ""
    instance_count: int = 1
    billable_seconds: int | None = None
    model_data: str = ""
    failure_reason: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    endpoints: list[dict[str, str]] = field(default_factory=list)
    region: str = ""
    kind: str = "training"  # the job kind's key (see smtrain.planning.kinds)
    warm_pool: dict[str, Any] = field(default_factory=dict)  # DescribeTrainingJob's WarmPoolStatus (SageMaker only)
    evaluation_job: str = ""  # the evaluation job whose metrics are the run's evaluation:* (smtrain.runs.evaluations)

    @cached_property
    def hyperparameters(self) -> dict[str, Any]:
        """The user's hyperparameters, decoded as the training toolkit does (no ``sagemaker_*`` keys)."""
        from smtrain.planning.spec import decode_hyperparameters

        return {k: v for k, v in sorted(decode_hyperparameters(self.encoded_hyperparameters).items())
                if not k.startswith("sagemaker_")}

    @property
    def entry_point(self) -> str:
        return _loads(self.encoded_hyperparameters.get("sagemaker_program", '""'))

    @property
    def source_uri(self) -> str:
        return _loads(self.encoded_hyperparameters.get("sagemaker_submit_directory", '""'))

    @property
    def user_tags(self) -> dict[str, str]:
        return {k: v for k, v in self.tags.items() if not k.startswith(SMTRAIN_TAG_PREFIX)}

    @property
    def git_commit(self) -> str:
        return self.tags.get("smtrain:git-commit", "")

    @property
    def git_dirty(self) -> bool:
        return self.tags.get("smtrain:git-dirty") == "true"

    @property
    def non_finite_metrics(self) -> dict[str, str]:
        """The metrics that are NaN or infinite, as shown: ``{"loss": "nan"}`` (see metric_values.py)."""
        return {k: metric_values.shown(v) for k, v in self.metrics.items() if not metric_values.finite(v)}

    def duration_seconds(self, now: dt.datetime | None = None) -> float | None:
        start = parse_time(self.started or self.created)
        if start is None:
            return None
        end = parse_time(self.ended) or now or dt.datetime.now(dt.timezone.utc)
        return max(0.0, (end - start).total_seconds())

    def age_seconds(self, now: dt.datetime | None = None) -> float | None:
        created = parse_time(self.created)
        return None if created is None else ((now or dt.datetime.now(dt.timezone.utc)) - created).total_seconds()

    def to_json(self) -> dict[str, Any]:
        """One JSON record: every value in full, hyperparameters decoded."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "encoded_hyperparameters"}
        record.update(hyperparameters=self.hyperparameters, entry_point=self.entry_point,
                      source_uri=self.source_uri, duration_seconds=self.duration_seconds(),
                      metrics=metric_values.jsonable(self.metrics), non_finite_metrics=self.non_finite_metrics)
        return record


def from_description(body: dict[str, Any], backend: str, tags: list[dict[str, str]] | None = None,
                     kind: JobKind = TRAINING) -> Run:
    """A run from a job's Describe body, of any kind (timestamps as ISO strings or datetimes)."""
    resources = body.get("ResourceConfig") or {}
    private = body.get("_local") or {}
    return Run(
        name=body[kind.name_key],
        backend=backend,
        kind=kind.key,
        status=body.get(kind.status_key, ""),
        created=iso(body.get("CreationTime")),
        started=iso(body.get(kind.start_time_key)) if kind.start_time_key else "",
        ended=iso(body.get(kind.end_time_key)) if kind.end_time_key else "",
        encoded_hyperparameters=dict(body.get("HyperParameters") or {}),
        metrics=metric_values.by_name(body.get("FinalMetricDataList")),
        tags=tag_dict(tags if tags is not None else body.get("Tags") or private.get("tags") or []),
        arn=body.get(kind.arn_key) or "",
        image=(body.get("AlgorithmSpecification") or {}).get("TrainingImage", ""),
        instance_type=resources.get("InstanceType", ""),
        instance_count=int(resources.get("InstanceCount", 1) or 1),
        billable_seconds=body.get("BillableTimeInSeconds"),
        model_data=(body.get("ModelArtifacts") or {}).get("S3ModelArtifacts", ""),
        failure_reason=body.get("FailureReason") or "",
        versions=dict(private.get("versions") or {}),
        region=private.get("region", "") or _arn_region(body.get(kind.arn_key, "")),
        warm_pool=dict(body.get("WarmPoolStatus") or {}),
    )


def tag_dict(tags: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}


def iso(value: Any) -> str:
    if value is None or value == "":
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def parse_time(text: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _arn_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def _loads(text: str) -> str:
    try:
        return str(json.loads(text))
    except ValueError:
        return text

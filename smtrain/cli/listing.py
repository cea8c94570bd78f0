"""`smtrain ls` tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from smtrain.spec import decode_hyperparameters


def user_hyperparameters(description: dict[str, Any]) -> str:
    values = decode_hyperparameters(description.get("HyperParameters", {}))
    return " ".join(f"{k}={v}" for k, v in sorted(values.items()) if not k.startswith("sagemaker_"))


def duration(description: dict[str, Any]) -> str:
    start = description.get("TrainingStartTime") or description.get("CreationTime")
    end = description.get("TrainingEndTime") or dt.datetime.now(dt.UTC)
    if not isinstance(start, dt.datetime):
        return ""
    return f"{(end - start).total_seconds():.1f}s"


def metrics(description: dict[str, Any]) -> str:
    return " ".join(f"{m['MetricName']}={m['Value']:g}" for m in description.get("FinalMetricDataList", []))


def print_listing(jobs: list[dict[str, Any]], endpoints: list[dict[str, Any]], url: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    columns = ("job", "status", "duration", "hyperparameters", "metrics")
    table = Table(*columns, title="Training jobs", title_justify="left")
    for job in jobs:
        table.add_row(job["TrainingJobName"], job["TrainingJobStatus"], duration(job),
                      user_hyperparameters(job), metrics(job))
    console.print(table if jobs else "no training jobs")
    table = Table("endpoint", "status", "url", title="Endpoints", title_justify="left")
    for endpoint in endpoints:
        table.add_row(endpoint["EndpointName"], endpoint["EndpointStatus"], url)
    console.print(table if endpoints else "no endpoints")

"""Stored model, endpoint-config and endpoint bodies as boto3 returns them: datetimes, and List* pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from smtrain.backends.local.store.state import public

TIME_KEYS = ("CreationTime", "LastModifiedTime", "ResolutionTime")


def shaped(body: dict[str, Any]) -> dict[str, Any]:
    """A stored body as boto3 returns it: no private fields, timestamps as datetimes."""
    return with_datetimes(public(body))


def with_datetimes(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (as_datetime(v) if k in TIME_KEYS else with_datetimes(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [with_datetimes(v) for v in value]
    return value


def as_datetime(value: Any) -> Any:
    return datetime.fromtimestamp(value, tz=timezone.utc) if isinstance(value, int | float) else value


def listing(
    rows: list[dict[str, Any]], key: str, name_key: str, filters: dict[str, Any], fields: tuple[str, ...],
) -> dict[str, Any]:
    """A List* answer: NameContains, SortBy (Name | CreationTime | Status), SortOrder, MaxResults, NextToken."""
    if filters.get("NameContains"):
        rows = [row for row in rows if filters["NameContains"] in row[name_key]]
    sort_key: Callable[[dict[str, Any]], Any] = {
        "Name": lambda row: row[name_key],
        "Status": lambda row: row.get("EndpointStatus", ""),
    }.get(filters.get("SortBy", ""), lambda row: row["CreationTime"])
    rows = sorted(rows, key=sort_key, reverse=filters.get("SortOrder", "Descending") == "Descending")
    start = int(filters.get("NextToken") or 0)
    end = start + int(filters.get("MaxResults") or 100)
    summaries = [shaped({k: row[k] for k in (name_key, *fields) if k in row}) for row in rows[start:end]]
    answer: dict[str, Any] = {key: summaries}
    if end < len(rows):
        answer["NextToken"] = str(end)
    return answer

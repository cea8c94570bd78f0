"""Which endpoints `teardown --all` and `teardown --expired` remove.

Only endpoints tagged ``smtrain:managed=true`` are candidates; an expiry is
the ``smtrain:expires-at`` tag that ``deploy --ttl`` writes, or
CreationTime plus the ``smtrain:ttl-seconds`` tag a pipeline writes. Every page of
ListEndpoints (and of each endpoint's ListTags) is read, not only the first.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from smtrain.planning.plan import SMTRAIN_TAG

if TYPE_CHECKING:
    from smtrain.api.session import Session

EXPIRES_TAG = "smtrain:expires-at"
TTL_TAG = "smtrain:ttl-seconds"  # written by pipelines, which cannot compute a date: expiry is CreationTime + TTL


def select_endpoints(session: Session, *, expired_only: bool, now: dt.datetime | None = None) -> list[str]:
    now = now or dt.datetime.now(dt.timezone.utc)
    chosen = []
    for endpoint in session.list_endpoints():
        tags = endpoint_tags(session, endpoint)
        if tags.get(SMTRAIN_TAG["Key"]) != SMTRAIN_TAG["Value"]:
            continue
        if expired_only and not is_expired(tags, now, created=endpoint.get("CreationTime")):
            continue
        chosen.append(endpoint["EndpointName"])
    return chosen


def endpoint_tags(session: Session, endpoint: dict[str, Any]) -> dict[str, str]:
    from smtrain.execution.executor import list_all

    tags = list_all(session.backend, "ListTags", "Tags", params={"ResourceArn": endpoint["EndpointArn"]})
    return {tag["Key"]: tag["Value"] for tag in tags}


def is_expired(tags: dict[str, str], now: dt.datetime, *, created: Any = None) -> bool:
    value = tags.get(EXPIRES_TAG)
    if not value:
        return expired_by_ttl(tags.get(TTL_TAG, ""), created, now)
    try:
        expires = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return False
    return expires <= now


def expired_by_ttl(ttl: str, created: Any, now: dt.datetime) -> bool:
    if not ttl.isdigit() or not isinstance(created, dt.datetime):
        return False
    start = created if created.tzinfo else created.replace(tzinfo=dt.timezone.utc)
    return start + dt.timedelta(seconds=int(ttl)) <= now

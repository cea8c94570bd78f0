"""Not-found errors that say where smtrain looked and which existing names are closest."""

from __future__ import annotations

from typing import Any

from smtrain.backends.base import Backend
from smtrain.core.errors import NotFoundError
from smtrain.core.hints import suggest
from smtrain.core.spelling import did_you_mean, where_looked
from smtrain.planning.kinds import KINDS
from smtrain.planning.steps import method_name

# What a not-found resource is listed with: noun -> (operation, list key, name key).
LISTINGS = {
    **{kind.noun: (kind.list, kind.summaries_key, kind.name_key) for kind in KINDS},
    "endpoint": ("ListEndpoints", "Endpoints", "EndpointName"),
}
LISTED_AT_MOST = 100  # one page: a suggestion is worth one quick request, not a walk over the account


def existing_names(backend: Backend, kind: str) -> list[str]:
    """Up to one page of the names of ``kind`` that exist; [] when they cannot be listed."""
    if kind not in LISTINGS:  # "job": a job of any kind
        return [name for noun in LISTINGS if noun != "endpoint" for name in existing_names(backend, noun)]
    operation, key, name_key = LISTINGS[kind]
    try:
        client: Any = backend.sagemaker()
        response = getattr(client, method_name(operation))(MaxResults=LISTED_AT_MOST)
    except Exception:  # a suggestion is a courtesy: failing to list must not hide the real error
        return []
    return [str(item[name_key]) for item in response.get(key, [])]


def not_found(backend: Backend, kind: str, name: str, cause: NotFoundError) -> NotFoundError:
    """The not-found error for ``kind`` ``name``: where smtrain looked, and the closest names that exist."""
    if cause.what.startswith(f"{kind} {name} not found in"):  # already explained (a nested call)
        return cause
    suggestion = did_you_mean(name, existing_names(backend, kind))
    what = f"{kind} {name} not found in {where_looked(backend.config)}" + (f"; {suggestion}" if suggestion else "")
    listing = suggest(backend.config, "ls")
    return NotFoundError(what, hint=cause.hint or f"`{listing}` lists what exists")

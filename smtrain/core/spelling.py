"""'Did you mean ...?': the closest existing names to one that was not found, and where smtrain looked."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smtrain.backends.base import Backend
    from smtrain.core.config import Config
    from smtrain.core.errors import NotFoundError

# What a not-found resource is listed with: kind -> (operation, list key, name key).
LISTINGS = {
    "training job": ("ListTrainingJobs", "TrainingJobSummaries", "TrainingJobName"),
    "endpoint": ("ListEndpoints", "Endpoints", "EndpointName"),
}
LISTED_AT_MOST = 100  # one page: a suggestion is worth one quick request, not a walk over the account


def closest(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The existing names most like ``word``, best first (difflib's ratio, at least 0.6)."""
    return difflib.get_close_matches(word, list(dict.fromkeys(candidates)), n=n, cutoff=0.6)


def did_you_mean(word: str, candidates: Iterable[str], *, render: str = "{}") -> str:
    """'did you mean X?' (or 'X or Y'), or '' when nothing is close."""
    matches = [render.format(match) for match in closest(word, candidates)]
    return f"did you mean {' or '.join(matches)}?" if matches else ""


def where_looked(config: Config) -> str:
    """The backend and its place: 'the local backend (home /x/.smtrain)' or 'the sagemaker backend (region R)'."""
    if config.backend == "local":
        return f"the local backend (home {config.home})"
    return f"the sagemaker backend (region {config.resolved_region()})"


def existing_names(backend: Backend, kind: str) -> list[str]:
    """Up to one page of the names of ``kind`` that exist; [] when they cannot be listed."""
    operation, key, name_key = LISTINGS[kind]
    from smtrain.planning.steps import method_name

    try:
        client: Any = backend.sagemaker()
        response = getattr(client, method_name(operation))(MaxResults=LISTED_AT_MOST)
    except Exception:  # a suggestion is a courtesy: failing to list must not hide the real error
        return []
    return [str(item[name_key]) for item in response.get(key, [])]


def not_found(backend: Backend, kind: str, name: str, cause: NotFoundError) -> NotFoundError:
    """The not-found error for ``kind`` ``name``: where smtrain looked, and the closest names that exist."""
    from smtrain.core.errors import NotFoundError
    from smtrain.core.hints import suggest

    if cause.what.startswith(f"{kind} {name} not found in"):  # already explained (a nested call)
        return cause
    suggestion = did_you_mean(name, existing_names(backend, kind))
    what = f"{kind} {name} not found in {where_looked(backend.config)}" + (f"; {suggestion}" if suggestion else "")
    listing = suggest(backend.config, "ls")
    return NotFoundError(what, hint=cause.hint or f"`{listing}` lists what exists")


def entry_point_hint(source: Path, entry_point: str) -> str:
    """Why an entry point was not found, when a near name or another folder would have found it."""
    if source.is_dir():
        siblings = [p.relative_to(source).as_posix() for p in source.glob("*.py")]
        parent = Path(entry_point).parent
        if parent != Path("."):
            siblings += [p.relative_to(source).as_posix() for p in (source / parent).glob("*.py")
                         if (source / parent).is_dir()]
        suggestion = did_you_mean(entry_point, siblings)
        if suggestion:
            return suggestion
    for folder in ("entry_points", "src", "code"):
        if folder != source.name and (source / folder / entry_point).is_file():
            return f"did you mean --source-dir {(source / folder).as_posix()}?"
    return "the entry point is relative to --source-dir"

"""'Did you mean ...?': the closest existing names to one that was not found, and where smtrain looked."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtrain.core.config import Config


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

"""The regions SageMaker runs in, as botocore's endpoint data lists them, kept in the user's cache."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def sagemaker_regions(boto: Any) -> list[str]:
    """SageMaker's regions in botocore's endpoint data. Reading that data (1.2 MB of JSON) takes longer
    than an unchanged `smtrain prepare` otherwise does, so the list is kept in the user's cache
    (``$XDG_CACHE_HOME/smtrain/sagemaker-regions-<botocore version>.json``); any trouble with it only costs
    the reading."""
    import botocore

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smtrain" / \
        f"sagemaker-regions-{botocore.__version__}.json"
    custom_data = bool(os.environ.get("AWS_DATA_PATH"))  # endpoint data of the user's own: read it
    try:
        known = json.loads(cache.read_text()) if not custom_data else None
        if isinstance(known, list) and all(isinstance(name, str) for name in known):
            return known
    except (OSError, ValueError):
        pass
    known = sorted({name for partition in boto.get_available_partitions()
                    for name in boto.get_available_regions("sagemaker", partition_name=partition)})
    if known and not custom_data:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(known))
            os.replace(temporary, cache)
        except OSError:
            pass
    return known

"""The smtrain commands smtrain suggests (``next:``, Ctrl-C, error hints), written to be pasted as they are.

A suggestion carries ``--backend`` whenever it is not the local default, and
the region and profile when set, since they decide which account and region
the pasted command reaches. Other settings (home, role, bucket, KMS key) are
added only when they came from a flag: the environment, ``.env`` and
``smtrain.toml`` give them to the pasted command as they gave them to this one.
"""

from __future__ import annotations

import shlex

from smtrain.core.config import Config

ALWAYS = ("region", "profile")


def suggest(config: Config, *words: str, needs: tuple[str, ...] = ("home",)) -> str:
    """``smtrain stop JOB --backend sagemaker --region eu-west-1``, quoted for a POSIX shell."""
    names: list[str] = []
    if not config.is_local:
        names += ["backend", *(name for name in ALWAYS if getattr(config, name))]
    names += [name for name in needs if config.sources.get(name) == "flag" and getattr(config, name)]
    flags = [part for name in names for part in (f"--{name.replace('_', '-')}", str(getattr(config, name)))]
    return shlex.join(["smtrain", *words, *flags])

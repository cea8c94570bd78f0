"""The `smtrain` console script.

``smtrain`` and ``smtrain --help`` must answer instantly, and importing click
alone costs about as much as starting Python. So the top-level help, once
rendered by click, is kept in the user's cache, keyed by smtrain's version
and the CLI modules' sizes and modification times; later calls print it
without importing click. Shell completion (``_SMTRAIN_COMPLETE``) and every
other call go straight to click, except a plain ``smtrain ls``, which lists
runs without click (:mod:`smtrain.runs.listing`).
"""

import os
import sys
from pathlib import Path

HELP_ARGS: tuple[list[str], ...] = ([], ["--help"], ["-h"])
PLAIN_LS_FLAGS = {"--json", "--all"}  # `smtrain ls` with only these runs without click


def main() -> None:
    if sys.argv[1:] in HELP_ARGS and "_SMTRAIN_COMPLETE" not in os.environ:
        sys.stdout.write(top_level_help())
        return
    if sys.argv[1:2] == ["ls"] and set(sys.argv[2:]) <= PLAIN_LS_FLAGS and "_SMTRAIN_COMPLETE" not in os.environ:
        from smtrain.runs.listing import main as plain_ls

        plain_ls(sys.argv[2:])  # exits
    from smtrain.cli import main as cli_main

    cli_main()


def top_level_help() -> str:
    cache = help_cache_path()
    try:
        return cache.read_text(encoding="utf-8")
    except OSError:
        pass
    text = render_help()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, cache)
    except OSError:
        pass  # a read-only cache only costs speed
    return text


def render_help() -> str:
    from smtrain.cli import cli

    with cli.make_context("smtrain", ["--help"], resilient_parsing=True) as ctx:
        return cli.get_help(ctx) + "\n"


def help_cache_path() -> Path:
    """``$XDG_CACHE_HOME/smtrain/help-<key>.txt``; the key changes whenever a CLI module changes."""
    cli_dir = Path(__file__).with_name("cli")
    stamps = sorted(
        f"{entry.name}:{entry.stat().st_size}:{entry.stat().st_mtime_ns}"
        for entry in os.scandir(cli_dir)
        if entry.name.endswith(".py")
    )
    from smtrain import __version__

    key = f"{__version__}|{'|'.join(stamps)}|{sys.version_info[:2]}"
    import zlib

    digest = format(zlib.crc32(key.encode()), "08x")
    cache_root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_root) / "smtrain" / f"help-{digest}.txt"

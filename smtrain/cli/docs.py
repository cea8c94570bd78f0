"""docs/cli.md, generated from the commands' own --help.

    python -m smtrain.cli.docs        # rewrite docs/cli.md
tests/unit/test_cli_docs.py fails when the file is stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from smtrain.cli import cli

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def walk(command: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from walk(command.commands[name], [*path, name])


def render() -> str:
    parts = ["# smtrain command reference\n\nGenerated from `--help` by `python -m smtrain.cli.docs`.\n"]
    for path, command in walk(cli, ["smtrain"]):
        ctx = click.Context(command, info_name=" ".join(path), terminal_width=100, max_content_width=100)
        parts.append(f"\n## {' '.join(path)}\n\n```\n{command.get_help(ctx)}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(render())

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


def walk(
    command: click.Command, path: list[str], parent: click.Context | None = None
) -> Iterator[tuple[list[str], click.Command, click.Context]]:
    # Contexts are built as the CLI builds them, so the group's settings (-h, widths) carry down.
    ctx = click.Context(command, info_name=path[-1], parent=parent, **command.context_settings)
    yield path, command, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):  # lazy groups load their commands here
            subcommand = command.get_command(ctx, name)
            if subcommand is not None:
                yield from walk(subcommand, [*path, name], ctx)


def render() -> str:
    parts = ["# smtrain command reference\n\nGenerated from `--help` by `python -m smtrain.cli.docs`.\n"]
    for path, command, ctx in walk(cli, ["smtrain"]):
        parts.append(f"\n## {' '.join(path)}\n\n```\n{command.get_help(ctx)}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(render())

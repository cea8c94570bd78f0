"""`smtrain init [DIR]`: start a project from the packaged penguins example."""

from __future__ import annotations

from pathlib import Path

import click

from smtrain.cli.common import emit_json, info, output_options


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite the example's files where they exist.")
@click.option("--json", "as_json", is_flag=True, help="Print the folder and the files written as JSON on stdout.")
@output_options
def init(directory: str, force: bool, as_json: bool) -> None:
    """Write a working project: the penguins script, notebook and test, smtrain.toml, .env.example, .gitignore."""
    from smtrain.project.init import init_project, next_steps

    folder = Path(directory)
    written = init_project(folder, force=force)
    if as_json:
        emit_json({"Directory": str(folder.resolve()), "Files": [str(p) for p in written]})
        return
    click.echo(f"wrote a project in {folder.resolve()}: " + ", ".join(str(p) for p in written))
    info(next_steps(folder, Path.cwd()))

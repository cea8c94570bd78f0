"""`smtrain quickstart`: the penguins workflow from data to teardown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from smtrain.cli.common import common_options, emit_json, make_session


@click.command()
@click.option("--source-dir", type=click.Path(file_okay=False),
              help="Folder with penguins.py (default: entry_points/ when it holds one, else the packaged example).")
@click.option("--keep", is_flag=True, help="Leave the endpoint running instead of tearing it down.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the job, endpoint, predictions and accuracy as JSON on stdout.")
@common_options
def quickstart(source_dir: str | None, keep: bool, as_json: bool, **settings: Any) -> int:
    """Prepare the penguins, train, deploy, predict 10 rows, tear down."""
    from smtrain.project.quickstart import run_quickstart

    session = make_session(settings)
    result = run_quickstart(session, Path(source_dir) if source_dir else None, keep=keep)
    if as_json:
        from dataclasses import asdict

        emit_json(asdict(result))
    return 0 if result.job_status == "Completed" else 1

"""`smtrain ls`: local runs and SageMaker jobs in one table.

On a terminal, a table sized to it; piped, one tab-separated line per run
with every value in full; with ``--json``, one JSON record per line. Listing
local runs imports neither boto3 nor pandas, and reads one small row per run.
What is printed lives in :mod:`smtrain.runs.listing`, which also runs a
plain ``smtrain ls`` without click.
"""

from __future__ import annotations

from typing import Any

import click

from smtrain.cli.common import QUIET_OPTION, given_before_command, run_command
from smtrain.runs.listing import DEFAULT_LIMIT, write_listing


@click.command(name="ls")
@click.option("--backend", "source", type=click.Choice(["local", "sagemaker", "all"]),
              help="Which runs: local, sagemaker or all (default: all when SageMaker is configured, else local).")
@click.option("--status", "statuses", multiple=True, help="Only runs with this status (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="KEY[=VALUE]", help="Only runs with this tag (repeatable).")
@click.option("--where", "conditions", multiple=True, metavar="CONDITION",
              help="Only runs whose metric (or hyperparameter) satisfies e.g. 'accuracy>0.9' (repeatable).")
@click.option("--sort", "sort_key", default="", metavar="METRIC[:asc]",
              help="Order by a metric, highest first (`:asc` for lowest first). Default: newest first.")
@click.option("--limit", default=DEFAULT_LIMIT, show_default=True, help="Show at most this many runs.")
@click.option("--tuning-job", default="", metavar="NAME", help="Only this tuning job and its trials.")
@click.option("--all", "show_all", is_flag=True, help="Show every run.")
@click.option("--json", "as_json", is_flag=True, help="One JSON record per run, one per line.")
@click.option("--region", help="AWS region (sagemaker backend).")
@click.option("--profile", help="AWS profile (sagemaker backend).")
@click.option("--home", type=click.Path(file_okay=False), help="Local state folder (default: the project's .smtrain).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@QUIET_OPTION
def list_command(debug: bool, **options: Any) -> None:
    """List runs, local and on SageMaker, with hyperparameters, metrics, tags and endpoints."""
    run_command(list_runs, options)


def list_runs(source: str | None, statuses: tuple[str, ...], tags: tuple[str, ...], conditions: tuple[str, ...],
              sort_key: str, limit: int, show_all: bool, as_json: bool, tuning_job: str, **settings: Any) -> None:
    from smtrain.cli.common import is_quiet
    from smtrain.core.config import load_config

    given_before = given_before_command()
    config = load_config({name: value or given_before.get(name) for name, value in settings.items()})
    write_listing(config, source or given_before.get("backend") or "", statuses=statuses, tags=tags,
                  conditions=conditions, sort_key=sort_key, limit=limit, show_all=show_all, as_json=as_json,
                  quiet=is_quiet(), tuning_job=tuning_job)

"""`smtrain ls`: local runs and SageMaker jobs in one table.

On a terminal, a table sized to it; piped, one tab-separated line per run
with every value in full; with ``--json``, one JSON record per line. Listing
local runs imports neither boto3 nor pandas, and reads one small row per run.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import click

from smtrain.cli.common import QUIET_OPTION, given_before_command, info, run_command
from smtrain.runs.record import Run

DEFAULT_LIMIT = 20
COLUMNS = ("run", "backend", "status", "age", "duration", "hyperparameters", "metrics", "tags", "endpoints")
FIXED_COLUMNS = ("run", "status", "age", "duration")


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
              sort_key: str, limit: int, show_all: bool, as_json: bool, **settings: Any) -> None:
    from smtrain.config import load_config
    from smtrain.runs import store

    given_before = given_before_command()
    config = load_config({name: value or given_before.get(name) for name, value in settings.items()})
    source = source or given_before.get("backend") or store.default_source(config)
    everything = show_all or limit <= 0
    newest_only = not (tags or conditions or sort_key)  # then the store reads only the rows shown
    runs, total = store.list_runs(config, source, statuses=statuses,
                                  newest=None if everything or not newest_only else limit)
    if not newest_only:
        from smtrain.runs import query

        runs = query.sort(query.select(runs, tags=tags, where=conditions), sort_key)
        total = len(runs)
    shown = runs if everything else runs[:limit]
    if as_json:
        click.echo("".join(json.dumps(run.to_json(), default=str) + "\n" for run in shown), nl=False)
    elif sys.stdout.isatty():
        print_table(shown)
    else:
        now = dt.datetime.now(dt.UTC)
        click.echo("".join("\t".join(row) + "\n" for row in [list(COLUMNS)] + [cells(r, full=True, now=now)
                                                                              for r in shown]), nl=False)
    if len(shown) < total:
        info(f"{len(shown)} of {total} runs shown; --all shows every one, --limit N more")
    elif not total and not as_json:
        info("no runs" + (" match" if statuses or tags or conditions else ""))


def cells(run: Run, *, full: bool = False, now: dt.datetime | None = None) -> list[str]:
    now = now or dt.datetime.now(dt.UTC)
    return [
        run.name,
        run.backend,
        run.status,
        human_seconds(run.age_seconds(now)),
        human_seconds(run.duration_seconds(now)),
        " ".join(f"{k}={shown_value(v)}" for k, v in sorted(run.encoded_hyperparameters.items())
                 if not k.startswith("sagemaker_")),
        " ".join(f"{k}={v}" if full else f"{k}={v:g}" for k, v in run.metrics.items()),
        " ".join(f"{k}={v}" for k, v in sorted(run.user_tags.items())),
        " ".join(endpoint_cell(e, now) for e in run.endpoints),
    ]


def endpoint_cell(endpoint: dict[str, str], now: dt.datetime) -> str:
    from smtrain.runs.record import parse_time

    expires = parse_time(endpoint.get("expires", ""))
    if expires is None:
        return endpoint["name"]
    left = (expires - now).total_seconds()
    return f"{endpoint['name']}(expires in {human_seconds(left)})" if left > 0 else f"{endpoint['name']}(expired)"


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def shown_value(encoded: str) -> str:
    """A hyperparameter as the API carries it (JSON text), shown without decoding: strings unquoted."""
    if len(encoded) >= 2 and encoded[0] == encoded[-1] == '"' and "\\" not in encoded:
        return encoded[1:-1]
    return encoded


def format_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def print_table(runs: list[Run]) -> None:
    """A table sized to the terminal: empty columns left out; names, status and times never wrapped."""
    from rich.console import Console
    from rich.table import Table

    now = dt.datetime.now(dt.UTC)
    rows = [cells(run, full=True, now=now) for run in runs]
    keep = [i for i, name in enumerate(COLUMNS) if name in FIXED_COLUMNS or any(row[i] for row in rows)]
    table = Table(title_justify="left")
    for i in keep:
        fixed = COLUMNS[i] in FIXED_COLUMNS
        table.add_column(COLUMNS[i], no_wrap=fixed, overflow="fold", min_width=len(COLUMNS[i]) if fixed else None)
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    Console().print(table)

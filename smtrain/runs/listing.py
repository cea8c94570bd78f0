"""What `smtrain ls` prints: local runs and SageMaker jobs in one table, without the CLI library.

On a terminal, a table sized to it (rich); piped, one tab-separated line per
run with every value in full; with ``--json``, one JSON record per line.

``smtrain ls`` is the command users type most, so the console script
(:mod:`smtrain.entry`) runs a plain ``smtrain ls`` (alone, or with ``--json``
or ``--all``) through :func:`main` here, without importing click: the same
output, a third sooner (importing click costs about as much as starting
Python). Every other form goes through click (:mod:`smtrain.cli.listing`),
which calls :func:`write_listing`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smtrain.core.config import Config
    from smtrain.runs.record import Run

DEFAULT_LIMIT = 20
COLUMNS = ("run", "backend", "status", "age", "duration", "hyperparameters", "metrics", "tags", "endpoints")
FIXED_COLUMNS = ("run", "status", "age", "duration")


def main(args: Sequence[str]) -> None:
    """``smtrain ls [--json] [--all]`` (the flags after ``ls``): exits as the click command would, errors included."""
    try:
        from smtrain.core.config import load_config, misspelt_settings

        for warning in misspelt_settings():
            sys.stderr.write(f"warning: {warning}\n")
        config = load_config()
        write_listing(config, "", as_json="--json" in args, show_all="--all" in args)
        sys.stdout.flush()
    except BrokenPipeError:  # `smtrain ls | head`: quiet, like click
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write("\naborted\n")
        sys.exit(130)
    except Exception as exc:
        from smtrain.cli import report_error

        sys.exit(report_error(exc, os.environ.get("SMTRAIN_DEBUG") == "1"))
    sys.exit(0)


def write_listing(config: Config, source: str, *, statuses: Sequence[str] = (), tags: Sequence[str] = (),
                  conditions: Sequence[str] = (), sort_key: str = "", limit: int = DEFAULT_LIMIT,
                  show_all: bool = False, as_json: bool = False, quiet: bool = False) -> None:
    """The runs of ``source`` (default: :func:`smtrain.runs.store.default_source`) on stdout; counts on stderr
    unless ``quiet``."""
    from smtrain.runs import store

    source = source or store.default_source(config)
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
        _out("".join(json.dumps(run.to_json(), default=str) + "\n" for run in shown))
    elif sys.stdout.isatty():
        print_table(shown)
    else:
        now = dt.datetime.now(dt.timezone.utc)
        _out("".join("\t".join(row) + "\n" for row in [list(COLUMNS)] + [cells(r, full=True, now=now)
                                                                        for r in shown]))
    if quiet:
        return
    if len(shown) < total:
        _err(f"{len(shown)} of {total} runs shown; --all shows every one, --limit N more")
    elif not total and not as_json:
        _err("no runs" + (" match" if statuses or tags or conditions else ""))


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _err(line: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def cells(run: Run, *, full: bool = False, now: dt.datetime | None = None) -> list[str]:
    now = now or dt.datetime.now(dt.timezone.utc)
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

    now = dt.datetime.now(dt.timezone.utc)
    rows = [cells(run, full=True, now=now) for run in runs]
    keep = [i for i, name in enumerate(COLUMNS) if name in FIXED_COLUMNS or any(row[i] for row in rows)]
    table = Table(title_justify="left")
    for i in keep:
        fixed = COLUMNS[i] in FIXED_COLUMNS
        table.add_column(COLUMNS[i], no_wrap=fixed, overflow="fold", min_width=len(COLUMNS[i]) if fixed else None)
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    Console().print(table)

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
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smtrain.core.config import Config
    from smtrain.runs.record import Run

DEFAULT_LIMIT = 20
# A tuning job's trials are named <tuning-job>-NNN-<8 hex> (smtrain/backends/local/tuning/tuner.py).
TRIAL_NAME = re.compile(r"^(?P<tuning>.+)-\d{3}-[0-9a-f]{8}$")
COLUMNS = ("run", "backend", "status", "age", "duration", "hyperparameters", "metrics", "tags", "warm_pool",
           "endpoints")
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
        from smtrain.core.errors import report_error

        sys.exit(report_error(exc, os.environ.get("SMTRAIN_DEBUG") == "1"))
    sys.exit(0)


def write_listing(config: Config, source: str, *, statuses: Sequence[str] = (), tags: Sequence[str] = (),
                  conditions: Sequence[str] = (), sort_key: str = "", limit: int = DEFAULT_LIMIT,
                  show_all: bool = False, as_json: bool = False, quiet: bool = False, tuning_job: str = "") -> None:
    """The runs of ``source`` (default: :func:`smtrain.runs.store.default_source`) on stdout; counts on stderr
    unless ``quiet``."""
    from smtrain.runs import store

    source = source or store.default_source(config)
    everything = show_all or limit <= 0
    newest_only = not (tags or conditions or sort_key)  # then the store reads only the rows shown
    newest_only = newest_only and not tuning_job
    runs, total = store.list_runs(config, source, statuses=statuses,
                                  newest=None if everything or not newest_only else limit)
    if tuning_job:
        runs = [run for run in runs if tuning_job in (tuning_of(run.name), run.name if run.kind == "tuning" else "")]
        total = len(runs)
    if not newest_only:
        from smtrain.runs import query

        runs = query.sort(query.select(runs, tags=tags, where=conditions), sort_key)
        total = len(runs)
    shown = runs if everything else runs[:limit]
    if as_json:
        from smtrain.core.metric_values import dumps

        _out("".join(dumps(run.to_json(), default=str) + "\n" for run in shown))
    elif sys.stdout.isatty():
        print_table(shown)
    else:
        now = dt.datetime.now(dt.timezone.utc)
        ordered = [run for _, run in grouped(shown) if run is not None]  # a tuning job, then its trials
        _out("".join("\t".join(row) + "\n" for row in [list(COLUMNS)] + [cells(r, full=True, now=now)
                                                                        for r in ordered]))
    if quiet:
        return
    _warn_non_finite(shown)
    if len(shown) < total:
        _err(f"{len(shown)} of {total} runs shown; --all shows every one, --limit N more")
    elif not total and not as_json and tuning_job:
        _err(f"no tuning job {tuning_job!r} with runs here (`smtrain ls` lists every run; a tuning job's trials "
             f"are named <tuning-job>-NNN-<8 hex>)")
    elif not total and not as_json:
        _err("no runs" + (" match" if statuses or tags or conditions else ""))


def tuning_of(name: str) -> str:
    """The tuning job a trial's name says it belongs to ("" for a job that is no trial)."""
    match = TRIAL_NAME.match(name)
    return match["tuning"] if match else ""


def grouped(runs: list[Run]) -> list[tuple[str, Run | None]]:
    """Rows in order, each tuning job followed by its trials (indented), where the first of them was listed;
    trials whose tuning job is not listed get a row naming it."""
    tuning_runs = {run.name: run for run in runs if run.kind == "tuning"}
    rows: list[tuple[str, Run | None]] = []
    seen: set[str] = set()
    for run in runs:
        tuning = run.name if run.name in tuning_runs else tuning_of(run.name)
        if not tuning:
            rows.append((run.name, run))
        elif tuning not in seen:
            seen.add(tuning)
            trials = [r for r in runs if tuning_of(r.name) == tuning and r.kind != "tuning"]
            header = tuning_runs.get(tuning)
            rows.append((f"{tuning} ({len(trials)} trials)" if header else f"{tuning} (tuning job, "
                         f"{len(trials)} trials)", header))
            rows += [(f"  {r.name}", r) for r in trials]
    return rows


def _warn_non_finite(runs: Sequence[Run]) -> None:
    from smtrain.core.metric_values import warning

    lines = [line for line in (warning(run.name, run.metrics) for run in runs) if line]
    for line in lines[:5]:
        _err(line)
    if len(lines) > 5:
        _err(f"warning: {len(lines) - 5} more run(s) have metrics that are not finite numbers")


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
        run.backend if run.kind == "training" else f"{run.backend} {run.kind}",
        run.status,
        human_seconds(run.age_seconds(now)),
        human_seconds(run.duration_seconds(now)),
        " ".join(f"{k}={shown_value(v)}" for k, v in sorted(run.encoded_hyperparameters.items())
                 if not k.startswith("sagemaker_")),
        " ".join(f"{k}={v}" if full else f"{k}={v:g}" for k, v in run.metrics.items()),
        " ".join(f"{k}={v}" for k, v in sorted(run.user_tags.items())),
        warm_pool_cell(run.warm_pool),
        " ".join(endpoint_cell(e, now) for e in run.endpoints),
    ]


def warm_pool_cell(status: dict[str, Any]) -> str:
    """``Available(retained 2m)``, ``Reused(by job-2, retained 40s)``: API_WarmPoolStatus's Status,
    ReusedByJob and ResourceRetainedBillableTimeInSeconds (billed per instance)."""
    if not status.get("Status"):
        return ""
    details = [f"by {status['ReusedByJob']}"] if status.get("ReusedByJob") else []
    if status.get("ResourceRetainedBillableTimeInSeconds") is not None:
        details.append(f"retained {human_seconds(status['ResourceRetainedBillableTimeInSeconds'])}")
    return status["Status"] + (f"({', '.join(details)})" if details else "")


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
    rows = [[label, *cells(run, full=True, now=now)[1:]] if run else [label, *[""] * (len(COLUMNS) - 1)]
            for label, run in grouped(runs)]
    keep = [i for i, name in enumerate(COLUMNS) if name in FIXED_COLUMNS or any(row[i] for row in rows)]
    table = Table(title_justify="left")
    for i in keep:
        fixed = COLUMNS[i] in FIXED_COLUMNS
        table.add_column(COLUMNS[i], no_wrap=fixed, overflow="fold", min_width=len(COLUMNS[i]) if fixed else None)
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    Console().print(table)

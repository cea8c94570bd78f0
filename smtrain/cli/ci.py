"""`smtrain report` (a run against a baseline, as Markdown, with a gate) and `smtrain ci init`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from smtrain.cli.common import emit_json, important, info, output_options
from smtrain.cli.runs import read_options
from smtrain.core.errors import UsageError

if TYPE_CHECKING:
    from smtrain.core.config import Config


@click.command()
@click.argument("job_name")
@click.option("--baseline", default="main", show_default=True, metavar="main|champion|JOB",
              help="What to compare with: the newest run from main, the approved champion of --group, or a run.")
@click.option("--group", default="", help="Model package group, for --baseline champion.")
@click.option("--gate", default="", metavar="METRIC>=VALUE",
              help="Exit 1 unless this run's metric satisfies the condition, e.g. 'test:accuracy>=0.9'.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write the Markdown here, not to stdout.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the run, baseline, comparison, gate result and Markdown as JSON on stdout.")
@read_options
def report(job_name: str, baseline: str, group: str, gate: str, out_path: str | None, as_json: bool, config: Config,
           source: str) -> int:
    """Markdown for a pull request: metrics with deltas, hyperparameters, environment, links; uploads nothing."""
    from smtrain.core.errors import NotFoundError
    from smtrain.runs import artifacts, compare, query, store
    from smtrain.runs import baseline as baselines
    from smtrain.runs import report as reports

    condition = query.parse_condition(gate, where="--gate") if gate else None
    run = store.get_run(config, job_name, source=source)
    note, comparison = "", None
    try:
        base = baselines.resolve(config, baseline, run, group=group)
        comparison = compare.compare(base, run, (artifacts.source_files(config, base),
                                                 artifacts.source_files(config, run)))
    except NotFoundError as exc:
        note = f"No baseline: {exc.what}. {exc.hint}".strip()
    result = reports.gate(run, condition)
    text = reports.render(run, comparison, result, note)
    if out_path:
        Path(out_path).write_text(text, encoding="utf-8")
        info(f"report written to {out_path}")
    if as_json:
        emit_json({"name": run.name, "backend": run.backend, "status": run.status, "metrics": run.metrics,
                   "baseline": comparison.a.name if comparison else None, "note": note,
                   "comparison": comparison.to_json() if comparison else None, "gate": gate_record(result),
                   "out": str(Path(out_path).resolve()) if out_path else None, "markdown": text})
    elif not out_path:
        click.echo(text)
    if result is not None:
        (info if result.passed else important)(f"gate {result}")
        return 0 if result.passed else 1
    return 0


def gate_record(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    condition = result.condition
    return {"condition": str(condition), "metric": condition.name, "operator": condition.op,
            "threshold": condition.value, "value": result.value, "passed": result.passed}


@click.group()
def ci() -> None:
    """Continuous integration: a workflow that trains on SageMaker and reports on pull requests."""


@ci.command(name="init")
@click.argument("provider", type=click.Choice(["github", "gitlab"]))
@click.option("--entry-point", required=True, help="The training script, relative to --source-dir.")
@click.option("--source-dir", default=".", show_default=True, help="The folder packed as the job's code.")
@click.option("--channel", required=True, metavar="NAME=S3_URI", help="The training data (an s3:// URI).")
@click.option("--gate", required=True, metavar="METRIC>=VALUE", help="The release gate, e.g. 'accuracy>=0.9'.")
@click.option("--group", required=True, help="Model package group that main's models are registered in.")
@click.option("--branch", default="main", show_default=True,
              help="The release branch: a plain name (letters, digits, . _ / -), never a pattern.")
@click.option("--force", is_flag=True, help="Replace an existing workflow file.")
@click.option("--json", "as_json", is_flag=True, help="Print the file written and its settings as JSON on stdout.")
@output_options
def ci_init(provider: str, entry_point: str, source_dir: str, channel: str, gate: str, group: str, branch: str,
            force: bool, as_json: bool) -> None:
    """Write the CI workflow: OIDC to AWS, fit --no-wait, report on the pull request, register on main."""
    from smtrain.planning.spec import check_name
    from smtrain.runs import query, workflows

    query.parse_condition(gate, where="--gate")
    check_name(group, "model package group")
    name, sep, uri = channel.partition("=")
    if not sep or not name or not uri.startswith("s3://"):
        raise UsageError(f"--channel {channel!r}", where="--channel",
                         hint="write NAME=s3://BUCKET/PREFIX/: CI machines hold no data; `smtrain prepare "
                              "--backend sagemaker` uploads it")
    settings = workflows.CiSettings(entry_point=entry_point, source_dir=source_dir, channel=channel, gate=gate,
                                    group=group, branch=branch)
    text = workflows.render(provider, settings)  # refuses unsafe values, parses its own output back
    path = Path(workflows.PATHS[provider])
    replaced = path.exists()
    if replaced and not force:
        raise UsageError(f"{path} exists", where="ci init", hint="add --force to replace it; nothing was written")
    workflows.write(path, text, replace=force)
    if as_json:
        emit_json({"provider": provider, "path": str(path.resolve()), "replaced": replaced, **asdict(settings)})
        return
    info(f"wrote {path}; set the variables its header lists, then push")

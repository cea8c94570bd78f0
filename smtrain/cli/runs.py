"""`smtrain show`, `smtrain diff` and `smtrain checkout`: one run in full, two runs compared, a run's code back.

They only read: none of them creates a store.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from smtrain.cli.common import QUIET_OPTION, emit_json, given_before_command, info, run_command
from smtrain.core.errors import UsageError

if TYPE_CHECKING:
    from smtrain.core.config import Config
    from smtrain.runs.record import Run


def read_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Where runs are read from: --backend local|sagemaker|all, --region, --profile, --home, --debug; and --quiet."""

    @click.option("--backend", "source", type=click.Choice(["local", "sagemaker", "all"]),
                  help="Where to look for the run (default: local, then SageMaker when it is the backend).")
    @click.option("--region", help="AWS region (sagemaker backend).")
    @click.option("--profile", help="AWS profile (sagemaker backend).")
    @click.option("--home", type=click.Path(file_okay=False), help="Local state folder (default: the project's).")
    @click.option("--debug", is_flag=True, help="Show tracebacks.")
    @QUIET_OPTION
    @functools.wraps(command)
    def wrapper(source: str | None, region: str | None, profile: str | None, home: str | None,
                debug: bool, **kwargs: Any) -> Any:
        from smtrain.core.config import load_config

        given_before = given_before_command()
        region, profile, home = (value or given_before.get(name) for name, value in
                                 (("region", region), ("profile", profile), ("home", home)))
        config = load_config({"region": region, "profile": profile, "home": home})
        return run_command(command, {"config": config, "source": source or given_before.get("backend", ""),
                                     **kwargs})

    return wrapper


@click.command()
@click.argument("job_name")
@click.option("--json", "as_json", is_flag=True, help="Everything as one JSON document on stdout.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Write a chart of the metric history (a tuning job's: its objective by trial).")
@read_options
def show(job_name: str, as_json: bool, plot_path: str | None, config: Config, source: str) -> None:
    """Everything about one run: hyperparameters, metrics over time, code, environment, cost, endpoints.

    For a tuning job: its trials ranked by the objective, the best job, and a chart of the objective by trial."""
    from smtrain.core.errors import NotFoundError
    from smtrain.runs import charts, costs, store

    try:
        run = store.get_run(config, job_name, source=source)
    except NotFoundError as missing:
        if not (show_tuning(config, source, job_name, as_json, plot_path)
                or show_processing(config, source, job_name, as_json)
                or show_other_kind(config, source, job_name, as_json)):
            raise missing from None
        return
    history = store.metric_history(config, run)
    files = _source_listing(config, run)
    if run.backend == "sagemaker":
        run.endpoints = _sagemaker_endpoints(config, run)
    cost = costs.estimate(run)
    if plot_path:
        info(f"chart written to {charts.plot(history, Path(plot_path), f'{run.name} metrics')}")
    from smtrain.core.metric_values import dumps, warning

    if warning(run.name, run.metrics):
        info(warning(run.name, run.metrics))
    if as_json:
        document = {**run.to_json(), "metric_history": history, "source_files": files,
                    "estimated_cost_usd": cost.usd, "estimated_cost_note": cost.note}
        click.echo(dumps(document, indent=2, default=str))
        return
    click.echo(render_show(run, history, files, str(cost)))


def show_other_kind(config: Config, source: str, name: str, as_json: bool) -> bool:
    """Show the job ``name`` of a kind with no view of its own (a transform job); False if there is none."""
    from smtrain.core.errors import NotFoundError, SmtrainError
    from smtrain.execution.following import find_job
    from smtrain.planning.kinds import KINDS, TRAINING, TUNING
    from smtrain.runs.job_view import render_job

    kinds = tuple(kind for kind in KINDS if kind not in (TRAINING, TUNING))
    for session in _sessions(config, source):
        try:
            kind, description = find_job(session.backend, name, kinds)
        except (NotFoundError, SmtrainError):
            continue
        if as_json:
            emit_json(description)
        else:
            click.echo(render_job(kind, description))
        return True
    return False


def _sessions(config: Config, source: str) -> Iterator[Any]:
    """A quiet session on each backend ``source`` asks for (a local store that does not exist is skipped)."""
    from smtrain.api.session import Session
    from smtrain.backends.local.store.reader import store_exists

    backends = [source] if source in ("local", "sagemaker") else ["local", *(["sagemaker"] if not config.is_local
                                                                              else [])]
    for backend in backends:
        if backend == "local" and not store_exists(config.home):  # reading never creates a store
            continue
        yield Session(quiet=True, backend=backend, home=str(config.home),
                      **{key: value for key in ("region", "profile") if (value := getattr(config, key, None))})


def show_tuning(config: Config, source: str, name: str, as_json: bool, plot_path: str | None = None) -> bool:
    """Show the tuning job ``name`` if there is one (False if there is none); ``plot_path``: its objective
    by trial as a PNG."""
    from smtrain.core.errors import NotFoundError, SmtrainError
    from smtrain.runs.tuning import render_tuning

    for session in _sessions(config, source):
        try:
            tuner = session.tuner(name)
        except (NotFoundError, SmtrainError):
            continue
        trials = session.trials(name)
        if plot_path:
            from smtrain.runs.tuning import plot_objective

            info(f"chart written to {plot_objective(tuner.description, trials, Path(plot_path))}")
        if as_json:
            emit_json({"tuning_job": tuner.description, "trials": trials})
        else:
            click.echo(render_tuning(tuner.description, trials))
        return True
    return False


def show_processing(config: Config, source: str, name: str, as_json: bool) -> bool:
    """Show the processing job ``name`` if there is one (False if there is none): status, inputs, outputs and,
    for an evaluation job, its report's metrics."""
    from smtrain.core.errors import NotFoundError, SmtrainError

    for session in _sessions(config, source):
        try:
            job = session.processing_job(name)
        except (NotFoundError, SmtrainError):
            continue
        try:
            metrics = session.evaluation(name)
        except SmtrainError:
            metrics = {}
        if as_json:
            emit_json({"processing_job": job.description, "evaluation": metrics})
        else:
            click.echo(render_processing(job.description, metrics))
        return True
    return False


def render_processing(description: dict[str, Any], metrics: dict[str, float]) -> str:
    from smtrain.runs.escaping import printable as p

    app = description.get("AppSpecification", {})
    command = [*app.get("ContainerEntrypoint", []), *app.get("ContainerArguments", [])]
    lines = [f"{'run':<12} {p(description['ProcessingJobName'])} (processing job)",
             f"{'status':<12} {p(description['ProcessingJobStatus'])}"
             + (f": {p(description['FailureReason'])}" if description.get("FailureReason") else ""),
             f"{'created':<12} {p(str(description.get('CreationTime', '')))}",
             f"{'image':<12} {p(app.get('ImageUri', ''))}", f"{'command':<12} {p(' '.join(command))}"]
    if description.get("ExitMessage"):
        lines.append(f"{'exit message':<12} {p(description['ExitMessage'])}")
    lines.append("\ninputs")
    lines += [f"  {p(i['InputName'])}: {p(i['S3Input']['S3Uri'])} -> {p(i['S3Input']['LocalPath'])}"
              for i in description.get("ProcessingInputs", []) if "S3Input" in i] or ["  none"]
    lines.append("\noutputs")
    lines += [f"  {p(o['OutputName'])}: {p(o['S3Output']['LocalPath'])} -> {p(o['S3Output']['S3Uri'])}"
              for o in description.get("ProcessingOutputConfig", {}).get("Outputs", []) if "S3Output" in o] \
        or ["  none"]
    if metrics:
        lines.append("\nevaluation")
        lines += [f"  {p(name)} = {value:.6g}" for name, value in metrics.items()]
    return "\n".join(lines)


def render_show(run: Run, history: list[dict[str, Any]], files: dict[str, int] | str, cost: str) -> str:
    """The text of `show`; every value from the run is passed through :func:`printable` (no terminal escapes)."""
    from smtrain.core.metric_values import NOT_FINITE
    from smtrain.runs.charts import by_metric, sparkline
    from smtrain.runs.escaping import printable as p
    from smtrain.runs.listing import endpoint_cell, format_value, human_seconds

    now = dt.datetime.now(dt.timezone.utc)
    git = run.git_commit + (" (dirty)" if run.git_dirty else "") if run.git_commit else "not recorded"
    billable = f"; billable {run.billable_seconds} s" if run.billable_seconds is not None else ""
    summary = [
        ("run", f"{p(run.name)} ({p(run.backend)})"),
        ("status", p(run.status) + (f": {p(run.failure_reason)}" if run.failure_reason else "")),
        ("created", f"{p(run.created)} ({human_seconds(run.age_seconds(now))} ago)"),
        ("duration", human_seconds(run.duration_seconds(now)) + billable),
        ("instance", f"{p(run.instance_type)} x {run.instance_count}"), ("image", p(run.image)),
        ("entry point", p(run.entry_point)), ("source", p(run.source_uri)), ("model", p(run.model_data)),
        ("warm pool", p(warm_pool_line(run))), ("evaluation", p(run.evaluation_job)), ("git", p(git)),
        ("cost", cost),
        ("endpoints", " ".join(p(endpoint_cell(e, now)) for e in run.endpoints) or "none"),
    ]
    lines = [f"{key:<12} {value}" for key, value in summary if value]
    lines.append("\nhyperparameters")
    lines += [f"  {p(k)} = {p(format_value(v))}" for k, v in run.hyperparameters.items()] or ["  none"]
    lines.append("\nmetrics (final, history)")
    series = by_metric(history)
    for name, value in run.metrics.items():
        values = series.get(name, [])
        finite = [v for v in values if math.isfinite(v)]
        trend = f"  {sparkline(values)}  {len(values)} values" + (
            f", min {min(finite):g}, max {max(finite):g}" if finite else "") if values else ""
        flag = f"  ({NOT_FINITE})" if not math.isfinite(value) else ""
        lines.append(f"  {p(name)} = {value:g}{flag}{trend}")
    if not run.metrics:
        lines.append("  none")
    lines.append("\nenvironment")
    versions = {**{k.removeprefix("smtrain:"): v for k, v in run.tags.items() if k.startswith("smtrain:")},
                **{f"job {k}": v for k, v in run.versions.items()}}
    lines += [f"  {p(k)}: {p(v)}" for k, v in versions.items() if k != "managed"] or ["  not recorded"]
    lines.append("\ntags")
    lines += [f"  {p(k)}={p(v)}" for k, v in sorted(run.user_tags.items())] or ["  none"]
    lines.append("\nsource files")
    lines += [f"  {p(path)} ({size} bytes)" for path, size in files.items()] if isinstance(files, dict) \
        else [f"  {p(files)}"]
    return "\n".join(lines)


def warm_pool_line(run: Run) -> str:
    """The warm pool's status and the retained time billed for it (per instance, times the instance count)."""
    from smtrain.runs.listing import warm_pool_cell

    cell = warm_pool_cell(run.warm_pool)
    retained = run.warm_pool.get("ResourceRetainedBillableTimeInSeconds")
    if retained is None:
        return cell
    return f"{cell}; retained billable time {retained} s x {run.instance_count} instance(s)"


def _source_listing(config: Config, run: Run) -> dict[str, int] | str:
    from smtrain.core.errors import SmtrainError
    from smtrain.runs.artifacts import source_files

    try:
        return {path: len(data) for path, data in sorted(source_files(config, run).items())}
    except SmtrainError as exc:
        return f"unavailable: {exc.what}"


def _sagemaker_endpoints(config: Config, run: Run) -> list[dict[str, str]]:
    from smtrain.core.errors import SmtrainError
    from smtrain.runs import sagemaker, store

    try:
        with store.translating("endpoints"):
            return sagemaker.endpoints_serving(store.sagemaker_client(config), run)
    except SmtrainError as exc:
        info(f"note: endpoints unknown ({exc.what})")
        return []


@click.command()
@click.argument("first")
@click.argument("second")
@click.option("--group", default="", help="Model package group, for `champion`.")
@click.option("--md", "as_markdown", is_flag=True, help="GitHub-flavoured Markdown.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@click.option("--no-source", is_flag=True, help="Skip the diff of the source archives.")
@read_options
def diff(first: str, second: str, group: str, as_markdown: bool, as_json: bool, no_source: bool,
         config: Config, source: str) -> None:
    """Compare two runs (SECOND against FIRST): metrics with deltas, hyperparameters, environment, code.

    Either may be `main` (the newest run from a commit on the main branch) or
    `champion` (the run behind the newest Approved package of --group).
    """
    from smtrain.core.metric_values import dumps, warning
    from smtrain.runs import artifacts, compare

    a = _resolve(config, first, second, group, source)
    b = _resolve(config, second, first, group, source)
    with_sources = not no_source and a.kind == b.kind == "training"  # a processing job records no source archive
    sources = (artifacts.source_files(config, a), artifacts.source_files(config, b)) if with_sources else None
    comparison = compare.compare(a, b, sources)
    for run in (a, b):
        if warning(run.name, run.metrics):
            info(warning(run.name, run.metrics))
    if as_json:
        click.echo(dumps(comparison.to_json(), indent=2, default=str))
    elif as_markdown:
        click.echo(compare.to_markdown(comparison))
    else:
        click.echo(compare.to_text(comparison), nl=False)


def _resolve(config: Config, name: str, other: str, group: str, source: str) -> Run:
    from smtrain.runs import baseline, store

    if name not in baseline.KEYWORDS:
        return store.get_any_run(config, name, source=source)
    if other in baseline.KEYWORDS:
        raise UsageError("compare a run with main or champion, not the two keywords", where="diff",
                         hint="give a run name as one of the two")
    return baseline.resolve(config, name, store.get_run(config, other, source=source), group=group)


@click.command()
@click.argument("job_name")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--model", is_flag=True, help="Also extract the model into DIRECTORY/model.")
@click.option("--force", is_flag=True,
              help="With --model: when the source has a model/ of its own, leave it out and put the model there.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the run, the folder and the files written as JSON on stdout.")
@read_options
def checkout(job_name: str, directory: str | None, model: bool, force: bool, as_json: bool, config: Config,
             source: str) -> None:
    """Write a run's source code (and with --model its model) into DIRECTORY (default ./JOB_NAME).

    DIRECTORY must be new or empty: nothing is ever overwritten. A source with a
    model/ of its own is refused with --model, unless --force.
    """
    from smtrain.runs import artifacts, store

    run = store.get_run(config, job_name, source=source)
    dest = artifacts.checkout(config, run, Path(directory or job_name), model=model, force=force)
    if as_json:
        emit_json(checkout_record(run, dest, model))
        return
    info(f"{run.name}: source{' and model' if model else ''} written to {dest}")
    if run.entry_point:
        info(f"re-run it: smtrain fit --entry-point {run.entry_point} --source-dir {dest} ...")


def checkout_record(run: Run, dest: Path, model: bool) -> dict[str, Any]:
    """What `checkout --json` prints: the run, where its code went, and every file written (relative paths)."""
    files = sorted(path.relative_to(dest).as_posix() for path in dest.rglob("*") if path.is_file())
    return {"name": run.name, "backend": run.backend, "status": run.status, "directory": str(dest.resolve()),
            "entry_point": run.entry_point, "source_uri": run.source_uri,
            "model_data": run.model_data if model else None,
            "model_directory": str((dest / "model").resolve()) if model else None, "files": files}

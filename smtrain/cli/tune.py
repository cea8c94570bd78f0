"""`smtrain tune`: a hyperparameter tuning job over `fit`'s training job; `plan tune` shares its flags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from smtrain.cli.common import common_options, emit_json, important, info, make_session
from smtrain.cli.train import fit_arguments, fit_options

TUNE_OPTIONS = [
    click.option("--range", "ranges", multiple=True, required=True, metavar="NAME=TYPE:...",
                 help="A hyperparameter to search (repeatable): NAME=continuous:LOW:HIGH[:log|:reverse-log], "
                      "NAME=integer:LOW:HIGH[:log] or NAME=categorical:A,B,C."),
    click.option("--objective", required=True, metavar="METRIC",
                 help="The metric to optimize: one of the --metric-definition names."),
    click.option("--maximize/--minimize", "maximize", default=True, show_default=True,
                 help="Whether a higher objective is better."),
    click.option("--max-jobs", type=int, default=None,
                 help="Trials in all (default 10; for Grid, every combination)."),
    click.option("--max-parallel", type=int, default=1, show_default=True,
                 help="Trials at once (locally, never more than this machine's cores)."),
    click.option("--strategy", type=click.Choice(["Bayesian", "Random", "Grid", "Hyperband"]), default="Bayesian",
                 show_default=True, help="How the next trial's values are chosen."),
    click.option("--early-stopping", type=click.Choice(["Off", "Auto"]), default="Off", show_default=True,
                 help="Auto: stop trials whose intermediate objective falls behind."),
    click.option("--random-seed", type=int, default=None, help="Makes the search repeatable."),
    click.option("--warm-start", "warm_start", multiple=True, metavar="PARENT_TUNING_JOB",
                 help="Start from a finished tuning job's trials (IdenticalDataAndAlgorithm; repeatable)."),
]


PIPELINE_TUNE_KEYS = ("tune", "ranges", "objective", "maximize", "max_jobs", "max_parallel", "strategy",
                      "early_stopping", "random_seed", "warm_start")


def pipeline_tune_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`pipeline export|run --tune` and the search's flags (as `smtrain tune`'s, none required)."""
    for option in reversed(TUNE_OPTIONS):
        if option is TUNE_OPTIONS[0]:
            option = click.option("--range", "ranges", multiple=True, metavar="NAME=TYPE:...",
                                  help="With --tune: a hyperparameter to search (as `smtrain tune --range`).")
        elif option is TUNE_OPTIONS[1]:
            option = click.option("--objective", default="", metavar="METRIC",
                                  help="With --tune: the metric to optimize (default: --gate-metric).")
        command = option(command)
    return click.option("--tune", is_flag=True,
                        help="Make the train step a tuning step (createHyperParameterTuningJob.sync); its best "
                             "training job goes on to the gate, registration and deployment.")(command)


def pipeline_tuning(options: dict[str, Any], gate_metric: str) -> dict[str, Any] | None:
    """Session.tune's tuning keyword arguments for `pipeline --tune` (popped), or None without --tune."""
    from smtrain.core.errors import UsageError

    settings = {key: options.pop(key) for key in PIPELINE_TUNE_KEYS}
    if not settings.pop("tune"):
        if settings["ranges"]:
            raise UsageError("--range is given without --tune", where="--range",
                             hint="add --tune to make the train step a tuning step, or drop --range")
        return None
    settings["objective"] = settings["objective"] or (gate_metric if not gate_metric.startswith("evaluation:") else "")
    if not settings["objective"]:
        raise UsageError("--tune needs the metric to optimize", where="--objective",
                         hint="give --objective METRIC (one of the --metric-definition names) or --gate-metric")
    return tuning_arguments(settings)


def tune_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`fit`'s flags plus the search's, shared by `smtrain tune` and `smtrain plan tune`."""
    for option in reversed(TUNE_OPTIONS):
        command = option(command)
    return fit_options(command)


def tuning_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """Session.tune's tuning keyword arguments, popped from the parsed flags."""
    return dict(ranges=list(options.pop("ranges")), objective=options.pop("objective"),
                minimize=not options.pop("maximize"), max_jobs=options.pop("max_jobs"),
                max_parallel=options.pop("max_parallel"), strategy=options.pop("strategy"),
                early_stopping=options.pop("early_stopping"), random_seed=options.pop("random_seed"),
                warm_start=tuple(options.pop("warm_start")))


def spec_arguments(entry_point: str, source_dir: str, channels: tuple[str, ...], hps: tuple[str, ...],
                   metrics: tuple[str, ...], environment: tuple[str, ...], options: dict[str, Any]) -> dict[str, Any]:
    tuning = tuning_arguments(options)
    training = fit_arguments(source_dir, channels, hps, metrics, environment, options)
    return {**tuning, **training}


@click.command()
@tune_options
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the tuning job to the end.")
@click.option("--json", "as_json", is_flag=True, help="Print the final DescribeHyperParameterTuningJob as JSON.")
@common_options
def tune(entry_point: str, source_dir: str, channels: tuple[str, ...], hps: tuple[str, ...],
         metrics: tuple[str, ...], environment: tuple[str, ...], wait: bool, as_json: bool, **options: Any) -> int:
    """Run a hyperparameter tuning job: trials of `fit`'s training job over the --range values.

    Static --hp values go to every trial. Exit 0 if the tuning job completed, 1 if it failed or
    was stopped.
    """
    session = make_session(options, max_runtime_seconds=options.pop("max_runtime_seconds"))
    tuner = session.tune(entry_point, wait=wait,
                         **spec_arguments(entry_point, source_dir, channels, hps, metrics, environment, options))
    if as_json:
        emit_json(tuner.description)
    return report_tuning(tuner.description, waited=wait)


def report_tuning(description: dict[str, Any], *, waited: bool) -> int:
    from smtrain.execution.tuning import progress_line

    name, status = description["HyperParameterTuningJobName"], description["HyperParameterTuningJobStatus"]
    if status in ("Failed", "Stopped"):
        reason = description.get("FailureReason", "")
        important(f"{name}: {progress_line(description)}" + (f"\n{reason}" if reason else ""))
        return 1
    info(f"{name}: {progress_line(description)}")
    best = description.get("BestTrainingJob") or {}
    if status == "Completed" and best:
        info(f"best training job: {best['TrainingJobName']} ({best.get('TunedHyperParameters', {})})")
    elif not waited:
        info(f"follow it with `smtrain show {name}`")
    return 0

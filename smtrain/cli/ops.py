"""Commands for the registry and for planning: register, plan fit|tune|process|deploy|register."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from smtrain.cli.common import common_options, emit_json, info, make_session
from smtrain.cli.process import process_arguments, process_options
from smtrain.cli.serve import deploy_options
from smtrain.cli.train import fit_arguments, fit_options, report_packing
from smtrain.cli.transform import transform_arguments, transform_options
from smtrain.cli.tune import spec_arguments, tune_options

REGISTER_OPTIONS = [
    click.option("--group", required=True, help="Model package group (created if missing)."),
    click.option("--approve", is_flag=True, help="Register as Approved (default: PendingManualApproval)."),
    click.option("--image-uri", default="", help="Serving image (default: the job's own training image)."),
    click.option("--evaluation", default="", metavar="EVAL_JOB",
                 help="Attach this evaluation job's evaluation.json as the package's model-quality metrics."),
]


def register_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The flags of `smtrain register`, shared with `smtrain plan register`."""
    for option in reversed(REGISTER_OPTIONS):
        command = option(command)
    return command


@click.command()
@click.argument("job_name")
@register_options
@click.option("--json", "as_json", is_flag=True, help="Print DescribeModelPackage as JSON on stdout.")
@common_options
def register(job_name: str, group: str, approve: bool, image_uri: str, evaluation: str, as_json: bool,
             **settings: Any) -> None:
    """Register a completed job's model in the model registry."""
    package = make_session(settings).register(job_name, group=group, approve=approve, image_uri=image_uri,
                                              evaluation=evaluation)
    if as_json:
        emit_json(package)
        return
    info(f"registered {package['ModelPackageArn']} ({package['ModelApprovalStatus']})")


@click.group()
def plan() -> None:
    """Print the exact API requests a command would send, and send nothing."""


@plan.command(name="fit")
@fit_options
@click.option("--json", "as_json", is_flag=True, help="Accepted for consistency: the plan is always JSON on stdout.")
@common_options
def plan_fit(entry_point: str, source_dir: str, channels: tuple[str, ...], hps: tuple[str, ...],
             metrics: tuple[str, ...], environment: tuple[str, ...], as_json: bool, **options: Any) -> None:
    """The uploads and CreateTrainingJob request of `smtrain fit`; on stderr, what the source archive leaves out."""
    session = make_session(options, quiet=True, max_runtime_seconds=options.pop("max_runtime_seconds"))
    spec = session.training_spec(entry_point, **fit_arguments(source_dir, channels, hps, metrics, environment, options))
    emit_json(steps_as_json(session.plan_fit(spec, root=offline_root(session))))
    report_packing(session, source_dir, channels)


@plan.command(name="tune")
@tune_options
@click.option("--json", "as_json", is_flag=True, help="Accepted for consistency: the plan is always JSON on stdout.")
@common_options
def plan_tune(entry_point: str, source_dir: str, channels: tuple[str, ...], hps: tuple[str, ...],
              metrics: tuple[str, ...], environment: tuple[str, ...], as_json: bool, **options: Any) -> None:
    """The uploads and CreateHyperParameterTuningJob request of `smtrain tune`."""
    session = make_session(options, quiet=True, max_runtime_seconds=options.pop("max_runtime_seconds"))
    spec = session.tuning_spec(entry_point,
                               **spec_arguments(entry_point, source_dir, channels, hps, metrics, environment, options))
    emit_json(steps_as_json(session.plan_tune(spec, root=offline_root(session))))
    report_packing(session, source_dir, channels)


@plan.command(name="transform")
@click.argument("source", metavar="JOB|TUNING_JOB|GROUP/VERSION")
@transform_options
@click.option("--json", "as_json", is_flag=True, help="Accepted for consistency: the plan is always JSON on stdout.")
@common_options
def plan_transform(source: str, as_json: bool, **options: Any) -> None:
    """CreateModel and CreateTransformJob (and an input's upload) of `smtrain transform`."""
    session = make_session(options, quiet=True)
    arguments = transform_arguments(options)
    spec = session.transform_spec(source, **arguments)
    emit_json(steps_as_json(session.plan_transform(spec)))


@plan.command(name="process")
@process_options
@click.option("--json", "as_json", is_flag=True, help="Accepted for consistency: the plan is always JSON on stdout.")
@common_options
def plan_process(code: str, as_json: bool, **options: Any) -> None:
    """The uploads and CreateProcessingJob request of `smtrain process`."""
    session = make_session(options, quiet=True)
    spec = session.processing_spec(code, **process_arguments(options))
    emit_json(steps_as_json(session.plan_process(spec, root=offline_root(session))))


@plan.command(name="deploy")
@click.argument("job_name")
@deploy_options
@click.option("--json", "as_json", is_flag=True, help="Accepted for consistency: the plan is always JSON on stdout.")
@common_options
def plan_deploy(job_name: str, as_json: bool, **options: Any) -> None:
    """CreateModel, CreateEndpointConfig and CreateEndpoint (or UpdateEndpoint) of `smtrain deploy`."""
    session = make_session(options, quiet=True)
    _, steps, _ = session.plan_deploy(job_name, **options)
    emit_json(steps_as_json(steps))


@plan.command(name="register")
@click.argument("job_name")
@register_options
@click.option("--json", "as_json", is_flag=True, help="Accepted for consistency: the plan is always JSON on stdout.")
@common_options
def plan_register(job_name: str, group: str, approve: bool, image_uri: str, evaluation: str, as_json: bool,
                  **settings: Any) -> None:
    """The model registry requests of `smtrain register`."""
    session = make_session(settings, quiet=True)
    emit_json(steps_as_json(session.plan_register(job_name, group=group, approve=approve, image_uri=image_uri,
                                                  evaluation=evaluation)))


def offline_root(session: Any) -> str:
    """The artifact root, or a placeholder when finding the default bucket needs AWS credentials."""
    from smtrain.core.errors import SmtrainError

    try:
        return str(session.backend.artifact_root())
    except SmtrainError as exc:
        info(f"note: default bucket unknown ({exc.what}); shown as <default-bucket>")
        return f"s3://<default-bucket>/{session.config.prefix}"


def steps_as_json(steps: Any) -> list[dict[str, Any]]:
    from dataclasses import asdict

    from smtrain.planning.steps import Ref

    def convert(value: Any) -> Any:
        if isinstance(value, Ref):
            return {"Ref": f"{value.step}.{value.path}"}
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    shown = []
    for step in steps:
        fields = convert(asdict(step))
        for note in fields.get("notes", ()):
            info(f"note: {step.operation} {note}")
        if not fields.get("notes"):
            fields.pop("notes", None)  # only calls that took config.yaml defaults carry notes
        shown.append({"type": type(step).__name__, **fields})
    return shown

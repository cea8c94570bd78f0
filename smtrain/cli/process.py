"""`smtrain process` and `smtrain evaluate`: processing jobs; `plan process` shares their flags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from smtrain.cli.common import KMS_KEY_OPTION, common_options, emit_json, important, info, make_session

PROCESS_OPTIONS = [
    click.option("--code", required=True, help="The processing script (relative to --source-dir when given)."),
    click.option("--source-dir", default=None, type=click.Path(file_okay=False),
                 help="A folder packed with the script; its requirements.txt is installed first (as `fit`)."),
    click.option("--input", "inputs", multiple=True, metavar="NAME=SOURCE[:DESTINATION]",
                 help="An input: a local path or s3:// URI, copied to DESTINATION under /opt/ml/processing "
                      "(default /opt/ml/processing/input/NAME) before the script starts."),
    click.option("--arg", "arguments", multiple=True, metavar="ARG", help="An argument for the script (repeatable)."),
    click.option("--job-name", default="", help="Default: <script>-<timestamp>."),
    click.option("--env", "environment", multiple=True, metavar="KEY=VALUE", help="Environment for the script."),
    click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag for the run (also a SageMaker tag)."),
    click.option("--instance-type", default="", help="SageMaker instance type."),
    click.option("--instance-count", default=None, type=int,
                 help="Instances (locally: processes algo-1..algo-N, each with its own /opt/ml)."),
    click.option("--sharded", multiple=True, metavar="NAME",
                 help="Split the input NAME's files between the instances (ShardedByS3Key) instead of copying all "
                      "of them to each (repeatable)."),
    click.option("--image-uri", default="", help="A custom ECR processing image (sagemaker backend)."),
    click.option("--framework-version", default="",
                 help="scikit-learn image version (default: newest known); locally, 'current' runs your "
                      "environment as is."),
    click.option("--max-runtime", "max_runtime_seconds", default=None, type=int, metavar="SECONDS",
                 help="Stop the job after this many seconds (StoppingCondition.MaxRuntimeInSeconds)."),
    click.option("--volume-kms-key", default="", help="KMS key for the processing volume."),
    click.option("--output-kms-key", default="", help="KMS key for the outputs (default: --kms-key)."),
    KMS_KEY_OPTION,
    click.option("--subnet", "subnets", multiple=True, help="VPC subnet (repeatable)."),
    click.option("--security-group", "security_groups", multiple=True, help="VPC security group (repeatable)."),
    click.option("--network-isolation", is_flag=True, help="No network access for the job."),
]


OUTPUT_OPTION = click.option(
    "--output", "outputs", multiple=True, metavar="NAME=SOURCE[:DESTINATION]",
    help="An output: the folder SOURCE under /opt/ml/processing, uploaded to DESTINATION (default "
         "<bucket>/<prefix>/<job>/output/NAME) once the script exits 0.")


def evaluate_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The flags of `smtrain evaluate`: `process`'s but --output (its one output is the report)."""
    for option in reversed(PROCESS_OPTIONS):
        command = option(command)
    return command


def process_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The flags of `smtrain process`, shared with `smtrain plan process`."""
    return evaluate_options(OUTPUT_OPTION(command))


def process_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for Session.processing_spec from the parsed flags (popped from ``options``)."""
    from smtrain.planning.spec import parse_pairs

    arguments = dict(options)
    options.clear()
    arguments.update(
        inputs=list(arguments.pop("inputs")), outputs=list(arguments.pop("outputs", ())),
        arguments=tuple(arguments.pop("arguments")), environment=parse_pairs(arguments.pop("environment"), "--env"),
        tags=parse_pairs(arguments.pop("tags"), "--tag"), subnets=tuple(arguments.pop("subnets")),
        sharded=tuple(arguments.pop("sharded")),
        security_groups=tuple(arguments.pop("security_groups")))
    return arguments


@click.command()
@process_options
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the job to the end.")
@click.option("--json", "as_json", is_flag=True, help="Print the final DescribeProcessingJob as JSON on stdout.")
@common_options
def process(code: str, wait: bool, as_json: bool, **options: Any) -> int:
    """Run a processing job: the script over its inputs at /opt/ml/processing, its outputs uploaded.

    Exit 0 if it completed, 1 if it failed or was stopped.
    """
    session = make_session(options)
    job = session.process(code, wait=wait, **process_arguments(options))
    if as_json:
        emit_json(job.description)
    return report_processing(job.description, waited=wait)


@click.command()
@click.argument("training_job")
@evaluate_options
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the job to the end.")
@click.option("--json", "as_json", is_flag=True, help="Print the final DescribeProcessingJob as JSON on stdout.")
@common_options
def evaluate(training_job: str, code: str, wait: bool, as_json: bool, **options: Any) -> int:
    """Evaluate a training job's model on held-out data: a processing job that gets the job's model.tar.gz
    at /opt/ml/processing/model and `--input test=PATH` at /opt/ml/processing/test, and whose script writes
    /opt/ml/processing/evaluation/evaluation.json ({"<problem>_metrics": {"accuracy": {"value": ...}}}).

    Attach the report to a model package with `smtrain register JOB --group G --evaluation EVAL_JOB`.
    """
    session = make_session(options)
    arguments = process_arguments(options)
    arguments.pop("outputs")
    job = session.evaluate(training_job, code, wait=wait, **arguments)
    if as_json:
        emit_json(job.description)
    status = report_processing(job.description, waited=wait)
    if status == 0 and job.status == "Completed":
        for name, value in session.evaluation(job.name).items():
            info(f"  {name} = {value}")
        from smtrain.core.hints import suggest

        info("next: " + suggest(session.config, "register", training_job, "--group", "GROUP", "--evaluation",
                                job.name))
    return status


def report_processing(description: dict[str, Any], *, waited: bool) -> int:
    name, status = description["ProcessingJobName"], description["ProcessingJobStatus"]
    if status == "Completed":
        outputs = description.get("ProcessingOutputConfig", {}).get("Outputs", [])
        info(f"{name}: Completed" + "".join(f"\n  output {o['OutputName']}: {o['S3Output']['S3Uri']}"
                                            for o in outputs if "S3Output" in o))
        return 0
    if status in ("Failed", "Stopped"):
        reason = description.get("FailureReason", "")
        message = description.get("ExitMessage", "")
        important(f"{name}: {status}" + (f"\n{reason}" if reason else "") + (f"\nExitMessage: {message}"
                                                                             if message else ""))
        important(f"the whole log: `smtrain logs {name} --no-follow`")
        return 1
    if not waited:
        info(f"{name}: {status}; follow it with `smtrain logs {name}`")
    return 0

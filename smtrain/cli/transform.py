"""`smtrain transform`: a batch transform job over a model's source; `plan transform` shares its flags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from smtrain.cli.common import common_options, emit_json, important, info, make_session

TRANSFORM_OPTIONS = [
    click.option("--input", "input_", required=True, metavar="PATH|s3://...",
                 help="A file or folder of files (or an s3:// object or prefix); each file gives <file>.out."),
    click.option("--output", "output_uri", default="", metavar="PATH|s3://...",
                 help="Where the .out files go (default: beside the artifacts, <root>/output/<transform job>/)."),
    click.option("--job-name", default="", help="The transform job's (and its model's) name."),
    click.option("--content-type", default="text/csv", show_default=True, help="The records' media type."),
    click.option("--accept", default="text/csv", show_default=True, help="The media type to answer in."),
    click.option("--split-type", type=click.Choice(["None", "Line", "RecordIO"]), default="Line",
                 show_default=True, help="How a file is split into records (None: a file is one record)."),
    click.option("--compression", type=click.Choice(["None", "Gzip"]), default=None,
                 help="Gzip: the input files are gzipped."),
    click.option("--strategy", type=click.Choice(["MultiRecord", "SingleRecord"]), default="MultiRecord",
                 show_default=True, help="MultiRecord: records packed up to --max-payload; SingleRecord: one each."),
    click.option("--max-payload", "max_payload_mb", type=int, default=None, metavar="MB",
                 help="The largest request (default 6 MB; 0-100)."),
    click.option("--max-concurrent", type=int, default=None, metavar="N",
                 help="Requests in flight at once per instance (default 1)."),
    click.option("--assemble-with", type=click.Choice(["None", "Line"]), default="Line", show_default=True,
                 help="Line: a newline after each answer."),
    click.option("--input-filter", default="", metavar="JSONPATH",
                 help="The part of each record sent to the model ('$[1:]': every CSV column but the first)."),
    click.option("--output-filter", default="", metavar="JSONPATH",
                 help="The part of each (joined) record written ('$[0,-1]': the first input column and the answer)."),
    click.option("--join-source", type=click.Choice(["None", "Input"]), default=None,
                 help="Input: each input record joined with its answer (CSV appended; JSON under SageMakerOutput)."),
    click.option("--instance-type", default="", help="SageMaker instance type."),
    click.option("--instance-count", default=1, show_default=True, type=int,
                 help="Instances (locally, model servers); the input files are shared among them."),
    click.option("--env", "environment", multiple=True, metavar="KEY=VALUE",
                 help="Environment for the model container (repeatable)."),
    click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag for the job (repeatable)."),
    click.option("--output-kms-key", default="", help="KMS key for the output (sagemaker backend)."),
    click.option("--volume-kms-key", default="", help="KMS key for the instances' volumes (sagemaker backend)."),
]


def transform_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The flags of `smtrain transform`, shared with `smtrain plan transform`."""
    for option in reversed(TRANSFORM_OPTIONS):
        command = option(command)
    return command


def transform_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """Session.transform's keyword arguments, popped from the parsed flags."""
    from smtrain.planning.spec import parse_pairs

    names = ("output_uri", "job_name", "content_type", "accept", "split_type", "compression", "strategy",
             "max_payload_mb", "max_concurrent", "assemble_with", "input_filter", "output_filter", "join_source",
             "instance_type", "instance_count", "output_kms_key", "volume_kms_key")
    arguments = {name: options.pop(name) for name in names}
    arguments["compression"] = arguments["compression"] or ""
    arguments["join_source"] = arguments["join_source"] or ""
    arguments["input"] = options.pop("input_")
    arguments["environment"] = parse_pairs(options.pop("environment"), "--env")
    arguments["tags"] = parse_pairs(options.pop("tags"), "--tag")
    return arguments


@click.command()
@click.argument("source", metavar="JOB|TUNING_JOB|GROUP/VERSION")
@transform_options
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the transform job to the end.")
@click.option("--json", "as_json", is_flag=True, help="Print the final DescribeTransformJob as JSON on stdout.")
@common_options
def transform(source: str, wait: bool, as_json: bool, **options: Any) -> int:
    """Run a batch transform job: the predictions of SOURCE's model for every record of --input.

    SOURCE is a completed training job, a tuning job (its best training job), or a registered model
    version (GROUP/VERSION or a model package ARN), served on its own image as `deploy` serves it.
    Exit 0 if the job completed, 1 if it failed or was stopped.
    """
    session = make_session(options)
    job = session.run_transform(session.transform_spec(source, **transform_arguments(options)), wait=wait)
    if as_json:
        emit_json(job.description)
    return report_transform(job.description)


def report_transform(description: dict[str, Any]) -> int:
    """The job's end on stderr; 1 if it failed or was stopped."""
    name, status = description["TransformJobName"], description["TransformJobStatus"]
    if status in ("Failed", "Stopped"):
        reason = description.get("FailureReason", "")
        important(f"transform job {name}: {status}" + (f"\n{reason}" if reason else ""))
        return 1
    info(f"transform job {name}: {status}; output: {description['TransformOutput']['S3OutputPath']}")
    return 0

"""Commands for data and training: prepare, fit, logs, stop, ls."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from smtrain.cli.common import KMS_KEY_OPTION, common_options, emit_json, important, info, is_quiet, make_session


@click.command()
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="A CSV to prepare instead of the penguins.")
@click.option("--target", default="sex", show_default=True, help="The column to predict.")
@click.option("--numeric", help="Numeric feature columns, comma-separated (default: inferred).")
@click.option("--categorical", help="Categorical feature columns, comma-separated (default: inferred).")
@click.option("--out", "out_dir", default="data/penguins", show_default=True, help="Where the CSVs are written.")
@click.option("--name", default="penguins", show_default=True, help="Dataset name in the store or bucket.")
@click.option("--json", "as_json", is_flag=True, help="Print channel URIs and hyperparameters as JSON.")
@KMS_KEY_OPTION
@common_options
def prepare(csv_path: str | None, target: str, numeric: str | None, categorical: str | None,
            out_dir: str, name: str, as_json: bool, **settings: Any) -> None:
    """Clean and split a dataset, write train/test CSVs and sync them.

    Without --csv this prepares the Palmer penguins (target `sex`). Only files
    whose content changed are uploaded again.
    """
    session = make_session(settings)
    options: dict[str, Any] = {"target": target}
    if numeric is not None:
        options["numeric"] = [c for c in numeric.split(",") if c]
    if categorical is not None:
        options["categorical"] = [c for c in categorical.split(",") if c]
    data = session.prepare(csv_path, out_dir=out_dir, name=name, **options)
    if as_json:
        emit_json({"train": data.train_uri, "test": data.test_uri, "hyperparameters": data.hyperparameters()})
        return
    from smtrain.core.hints import suggest

    hps = [word for k, v in data.hyperparameters().items() for word in ("--hp", f"{k}={v}")]
    info(f"prepared {data.prepared.n_train} training and {data.prepared.n_test} test rows")
    from smtrain.project.quickstart import example_source_dir

    info("next: " + suggest(session.config, "fit", "--entry-point", "penguins.py", "--source-dir", example_source_dir(),
                            "--channel", f"train={data.train_uri}", *hps, needs=FIT_SETTINGS))


FIT_SETTINGS = ("home", "role", "bucket", "kms_key")  # what a suggested `smtrain fit` must repeat when flagged
FIT_OPTIONS = [
    click.option("--entry-point", required=True, help="The training script, relative to --source-dir."),
    click.option("--source-dir", default=".", show_default=True, type=click.Path(file_okay=False),
                 help="Folder packed as the job's code (honours .gitignore and .smtrainignore; never .env)."),
    click.option("--channel", "channels", multiple=True, metavar="NAME=PATH_OR_URI", help="An input channel."),
    click.option("--hp", "hps", multiple=True, metavar="KEY=VALUE",
                 help="A hyperparameter; VALUE is JSON or a string."),
    click.option("--job-name", default="", help="Default: <entry point>-<timestamp>."),
    click.option("--max-runtime", "max_runtime_seconds", default=None, type=click.IntRange(min=1),
                 metavar="SECONDS",
                 help="Stop the job after this many seconds (StoppingCondition.MaxRuntimeInSeconds; "
                      "default: SMTRAIN_MAX_RUNTIME_SECONDS, else 86400)."),
    click.option("--metric-definition", "metrics", multiple=True, metavar="NAME=REGEX",
                 help="Capture a metric from the log (first group of REGEX)."),
    click.option("--env", "environment", multiple=True, metavar="KEY=VALUE", help="Environment for the script."),
    click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE",
                 help="A tag for the run (also sent as a SageMaker tag); filter with `smtrain ls --tag`."),
    click.option("--instance-type", default="", help="SageMaker instance type."),
    click.option("--instance-count", default=None, type=int,
                 help="SageMaker instance count (locally: one process per instance, algo-1 ... algo-N)."),
    click.option("--sharded", "sharded", multiple=True, metavar="CHANNEL",
                 help="Give each instance its own share of CHANNEL's files (S3DataDistributionType "
                      "ShardedByS3Key, the SDK's TrainingInput(distribution='ShardedByS3Key')); repeatable."),
    click.option("--image-uri", default="", help="A custom ECR training image (sagemaker backend)."),
    click.option("--framework-version", default="",
                 help="scikit-learn image version (default: newest known); locally, 'current' runs your "
                      "environment as is."),
    click.option("--spot", is_flag=True, help="Managed spot training (sagemaker backend)."),
    click.option("--keep-alive", "keep_alive_seconds", default=None, type=int, metavar="SECONDS",
                 help="Keep the instances in a managed warm pool for SECONDS (at most 3600) after the job, for the "
                      "next matching job (ResourceConfig.KeepAlivePeriodInSeconds; billed; sagemaker backend)."),
    click.option("--max-wait", "max_wait_seconds", default=None, type=int, help="Spot: longest wait in seconds."),
    click.option("--checkpoint-uri", default="", help="Spot: S3 URI for checkpoints."),
    click.option("--volume-kms-key", default="", help="KMS key for the training volume."),
    click.option("--output-kms-key", default="", help="KMS key for the output (default: --kms-key)."),
    KMS_KEY_OPTION,
    click.option("--subnet", "subnets", multiple=True, help="VPC subnet (repeatable)."),
    click.option("--security-group", "security_groups", multiple=True, help="VPC security group (repeatable)."),
    click.option("--network-isolation", is_flag=True, help="No network access for the job."),
]


def fit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The flags of `smtrain fit`, shared with `smtrain plan fit`."""
    for option in reversed(FIT_OPTIONS):
        command = option(command)
    return command


@click.command()
@fit_options
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the job to the end.")
@click.option("--json", "as_json", is_flag=True, help="Print the final DescribeTrainingJob as JSON on stdout.")
@click.option("--verbose", is_flag=True, help="List what the source archive and channel folders leave out, and why.")
@common_options
def fit(entry_point: str, source_dir: str, channels: tuple[str, ...], hps: tuple[str, ...], metrics: tuple[str, ...],
        environment: tuple[str, ...], wait: bool, as_json: bool, verbose: bool, **options: Any) -> int:
    """Run a training job and follow it: exit 0 if it completed, 1 if it failed or was stopped."""
    from smtrain.core.errors import AwsError

    session = make_session(options, max_runtime_seconds=options.pop("max_runtime_seconds"))
    if verbose:
        report_packing(session, source_dir, channels)
    job_name = options.get("job_name", "")
    try:
        job = session.fit(entry_point, wait=wait,
                          **fit_arguments(source_dir, channels, hps, metrics, environment, options))
    except AwsError as exc:
        if job_name and exc.code == "ResourceInUse":
            raise AwsError(exc.what, code=exc.code, where=exc.where,
                           hint=f"job names are never reused: drop --job-name {job_name} for a generated one "
                                f"(<entry point>-<timestamp>), or choose another name") from exc
        raise
    if as_json:
        emit_json(job.description)
    return report_job(job.description, waited=wait, config=session.config)


def fit_arguments(source_dir: str, channels: tuple[str, ...], hps: tuple[str, ...], metrics: tuple[str, ...],
                  environment: tuple[str, ...], options: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for Session.fit/training_spec from the parsed flags."""
    from smtrain.planning.spec import parse_pairs

    return dict(
        source_dir=source_dir,
        channels=parse_pairs(channels, "--channel"),
        hyperparameters=parse_pairs(hps, "--hp", json_values=True),
        metric_definitions=parse_pairs(metrics, "--metric-definition"),
        environment=parse_pairs(environment, "--env"),
        tags=parse_pairs(options.pop("tags", ()), "--tag"),
        subnets=tuple(options.pop("subnets")),
        security_groups=tuple(options.pop("security_groups")),
        sharded=tuple(options.pop("sharded", ())),
        **options,
    )


def report_packing(session: Any, source_dir: str, channels: tuple[str, ...] = ()) -> None:
    """List on stderr what packing ``source_dir``, and sending the channel folders, leave out, and why
    (writes nothing)."""
    from pathlib import Path

    from smtrain.files.packing import scan_data
    from smtrain.files.tarballs import scan_source
    from smtrain.planning.spec import parse_pairs

    for line in scan_source(Path(source_dir), home=session.config.home).report():
        info(line)
    for name, value in parse_pairs(channels, "--channel").items():
        if "://" not in value and Path(value).is_dir():
            for line in scan_data(Path(value), home=session.config.home).report():
                info(f"channel {name}: {line}")


def report_job(description: dict[str, Any], *, waited: bool = True, config: Any = None) -> int:
    name, status = description["TrainingJobName"], description["TrainingJobStatus"]
    if status == "Completed":
        info(f"{name}: Completed; model: {description['ModelArtifacts']['S3ModelArtifacts']}")
        for metric in description.get("FinalMetricDataList", []):
            info(f"  {metric['MetricName']} = {metric['Value']}")
        return 0
    if status in ("Failed", "Stopped"):
        from smtrain.core.config import Config
        from smtrain.core.hints import suggest
        from smtrain.execution.following import without_traceback

        reason = description.get("FailureReason", "")
        if waited and not is_quiet():  # the streamed log showed the traceback (--quiet streams no log)
            reason = without_traceback(reason)
        detail = description.get("SecondaryStatus", "")
        detail = f" ({detail})" if detail and detail != status else ""
        important(f"{name}: {status}{detail}" + (f"\n{reason}" if reason else ""))
        important(f"the whole log: `{suggest(config or Config(), 'logs', name, '--no-follow')}`")
        return 1
    if not waited:
        from smtrain.core.config import Config
        from smtrain.core.hints import suggest

        info(f"{name}: {status}; follow it with `{suggest(config or Config(), 'logs', name)}`")
    return 0


@click.command()
@click.argument("job_name")
@click.option("--follow/--no-follow", default=True, show_default=True, help="Keep reading until the job ends.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the log to stderr instead, then the job's DescribeTrainingJob as JSON on stdout.")
@common_options
def logs(job_name: str, follow: bool, as_json: bool, **settings: Any) -> int:
    """Print a training job's log (live while it runs) to stdout; status lines go to stderr."""
    from smtrain.execution.executor import QuietReporter, Reporter
    from smtrain.runs.store import require_store

    base = QuietReporter if is_quiet() else Reporter  # --quiet: the log alone, no status lines or spinner

    class LogToStdout(base):  # type: ignore[valid-type,misc]
        def log_line(self, line: str) -> None:
            self.write(line, sys.stdout)

    session = make_session(settings, reporter=base() if as_json else LogToStdout())
    require_store(session.config, f"no training job {job_name}")  # reading a log never creates a store
    job = session.logs(job_name, follow=follow)
    if as_json:
        emit_json(job.description)
    if follow and "HyperParameterTuningJobName" in job.description:  # a tuning job's log is its tuner's
        from smtrain.cli.tune import report_tuning

        return report_tuning(job.description, waited=True)
    if follow and "TransformJobName" in job.description:
        from smtrain.cli.transform import report_transform

        return report_transform(job.description)
    if follow and "ProcessingJobName" in job.description:
        from smtrain.cli.process import report_processing

        return report_processing(job.description, waited=True)
    return report_job(job.description, config=session.config) if follow else 0


@click.command()
@click.argument("job_name")
@click.option("--json", "as_json", is_flag=True, help="Print the job's DescribeTrainingJob as JSON on stdout.")
@common_options
def stop(job_name: str, as_json: bool, **settings: Any) -> None:
    """Stop a running training job."""
    job = make_session(settings).stop(job_name)
    if as_json:
        emit_json(job.description)
        return
    info(f"{job_name}: {job.status}")

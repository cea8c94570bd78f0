"""`smtrain pipeline`: fit -> gate -> register -> deploy as a Step Functions state machine."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from smtrain.cli.common import SETTING_OPTIONS, common_options, emit_json, important, info, make_session
from smtrain.cli.train import FIT_OPTIONS, fit_arguments

DEPLOY_KEYS = ("endpoint_name", "serving_instance_type", "serving_instance_count", "serverless_memory_mb",
               "ttl_seconds", "workers")
ENTRY_POINT = click.option("--entry-point", default="", help="The training script, relative to --source-dir.")
PIPELINE_OPTIONS = [
    click.option("--name", "pipeline_name", default="smtrain", show_default=True,
                 help="The state machine's name; prefixes every resource it creates (16 characters at most)."),
    click.option("--group", default="", help="Model package group to register in (default: the pipeline's name)."),
    click.option("--approve", is_flag=True, help="Register a model that passes the gate as Approved."),
    click.option("--endpoint-name", default="", help="Default: the pipeline's name."),
    click.option("--serving-instance-type", default="", help="Endpoint instance type."),
    click.option("--serving-instance-count", default=1, type=click.IntRange(min=1), show_default=True,
                 help="Endpoint instances."),
    click.option("--serverless-memory", "serverless_memory_mb", default=0, type=click.IntRange(min=0),
                 help="Serverless endpoint with this much memory (MB)."),
    click.option("--ttl", "ttl_seconds", default=0, type=click.IntRange(min=0),
                 help="Tag the endpoint to expire after this many seconds."),
    click.option("--workers", default=0, type=click.IntRange(min=0), help="Model server workers."),
    click.option("--gate-metric", default="", help="Deploy only if this metric (a --metric-definition) passes."),
    click.option("--gate-threshold", default=None, type=float, callback=lambda ctx, param, value: finite(value),
                 help="The gate's default threshold."),
    click.option("--gate-champion", is_flag=True, help="The gate also requires beating the newest Approved model."),
    click.option("--gate-minimize", is_flag=True, help="Lower metric values are better."),
    click.option("--transform-input", default="", metavar="S3_URI",
                 help="Add a batch transform step (createTransformJob.sync) on the gated model over this input "
                      "(a file or prefix; the execution input's transform_input overrides it)."),
    click.option("--no-endpoint", "no_endpoint", is_flag=True,
                 help="With --transform-input: the batch step instead of an endpoint."),
    click.option("--preprocess-code", default="", metavar="FILE",
                 help="Add a Preprocess step before training: a processing job running FILE over "
                      "--preprocess-input; each --preprocess-output is the training channel of its name."),
    click.option("--preprocess-input", "preprocess_inputs", multiple=True, metavar="NAME=URI[:DESTINATION]",
                 help="With --preprocess-code: an input (default destination /opt/ml/processing/input/NAME)."),
    click.option("--preprocess-output", "preprocess_outputs", multiple=True, metavar="NAME=SOURCE",
                 help="With --preprocess-code: an output folder under /opt/ml/processing; the channel NAME of the "
                      "train step (an output 'test' is also the Evaluate step's held-out data)."),
    click.option("--preprocess-arg", "preprocess_arguments", multiple=True, metavar="ARG",
                 help="With --preprocess-code: an argument for its script (repeatable)."),
    click.option("--evaluate-code", default="", metavar="FILE",
                 help="Add an Evaluate step after training: a processing job running FILE over the trained "
                      "model (/opt/ml/processing/model) and --evaluate-input; the registered package carries its "
                      "evaluation.json as ModelMetrics."),
    click.option("--evaluate-input", "evaluate_inputs", multiple=True, metavar="NAME=URI[:DESTINATION]",
                 help="With --evaluate-code: an input of the Evaluate step; 'test' is required "
                      "(default destination /opt/ml/processing/NAME)."),
    click.option("--evaluate-arg", "evaluate_arguments", multiple=True, metavar="ARG",
                 help="With --evaluate-code: an argument for its script (repeatable)."),
    click.option("--timeout", "timeout_seconds", default=2 * 86400, type=click.IntRange(1, 99999999),
                 show_default=True, help="The state machine's TimeoutSeconds."),
]
ALLOW_PLAIN_ENV = click.option(
    "--allow-plain-env", is_flag=True,
    help="Export --env values whose names look secret (TOKEN, SECRET, PASSWORD, KEY, CREDENTIAL) in plain text.")


def finite(value: float | None) -> float | None:
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number (NaN and Infinity are not JSON)")
    return value


def pipeline_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The flags of `fit`, `register` and `deploy`, plus the gate; defaults from `[pipeline]` in smtrain.toml.

    --entry-point is checked when a definition is built, so `run --definition` and `status` work without it.
    """
    from smtrain.cli.tune import pipeline_tune_options

    for option in reversed([ENTRY_POINT, *FIT_OPTIONS[1:], *PIPELINE_OPTIONS]):
        command = option(command)
    return pipeline_tune_options(command)


@click.group()
@click.pass_context
def pipeline(ctx: click.Context) -> None:
    """Train, gate, register and deploy as an AWS Step Functions state machine.

    Options come from flags or from a [pipeline] table in smtrain.toml (keys
    are the flag names with underscores; channel, hp and metric_definition
    are tables). `run --local` executes the exported document itself.
    """
    table = read_pipeline_table(Path.cwd() / "smtrain.toml")
    if table:
        check_table_keys(table)
        ctx.default_map = {command: table for command in ("export", "run", "deploy", "status")}


def read_pipeline_table(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    from smtrain.core.compat import tomllib
    from smtrain.core.errors import UsageError

    try:
        table = tomllib.loads(path.read_text()).get("pipeline", {})
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(str(exc), where=str(path), hint="fix the TOML syntax") from exc
    names = {"channel": "channels", "hp": "hps", "metric_definition": "metrics", "env": "environment",
             "name": "pipeline_name"}
    converted = {}
    for key, value in table.items():
        if isinstance(value, dict):
            value = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in value.items()]
        converted[names.get(key, key)] = value
    return converted


def check_table_keys(table: dict[str, Any]) -> None:
    """A misspelt key would be ignored silently: refuse it instead."""
    from smtrain.core.errors import UsageError

    accepted = {param.name for param in export_command.params if param.name} - {"output_format", "output_path"}
    for key in table:
        if key not in accepted:
            names = sorted(n for n in accepted if n not in ("backend", "region", "profile", "role", "bucket", "home"))
            raise UsageError(f"unknown key {key!r} in [pipeline]", where="smtrain.toml",
                             hint=f"keys are the flags with underscores: {', '.join(names)}")


def build(options: dict[str, Any], session: Any, *, allow_plain_env: bool | None = None) -> Any:
    """Parse the flags into a spec and export it for the session's backend.

    ``allow_plain_env`` is given where the definition leaves the machine (export, deploy): then an --env
    name that looks secret is refused unless it is True.
    """
    from smtrain.cli.tune import pipeline_tuning
    from smtrain.core.errors import UsageError
    from smtrain.pipeline.build import check_plain_env, export, pipeline_spec
    from smtrain.pipeline.spec import Gate

    name = options.pop("pipeline_name")
    evaluate = (options.pop("evaluate_code"), options.pop("evaluate_inputs"), options.pop("evaluate_arguments"))
    if not evaluate[0] and (evaluate[1] or evaluate[2]):
        raise UsageError("--evaluate-input and --evaluate-arg are given without --evaluate-code",
                         where="--evaluate-code", hint="add --evaluate-code FILE, or drop them")
    prepare = (options.pop("preprocess_code"), options.pop("preprocess_inputs"), options.pop("preprocess_outputs"),
               options.pop("preprocess_arguments"))
    if not prepare[0] and any(prepare[1:]):
        raise UsageError("--preprocess-input, --preprocess-output and --preprocess-arg are given without "
                         "--preprocess-code", where="--preprocess-code",
                         hint="add --preprocess-code FILE, or drop them")
    preprocess = None
    if prepare[0]:
        from smtrain.pipeline.preprocess import PLACEHOLDER, placeholder_channels, preprocess_spec

        preprocess = preprocess_spec(session, name, *prepare)
        given = {text.partition("=")[0] for text in options["channels"]}
        channels = placeholder_channels(preprocess)
        options["channels"] = (*options["channels"], *(f"{k}={v}" for k, v in channels.items() if k not in given))
        if evaluate[0] and "test" in channels and not any(t.startswith("test=") for t in evaluate[1]):
            evaluate = (evaluate[0], (*evaluate[1], f"test={PLACEHOLDER}test/"), evaluate[2])
    tuning = pipeline_tuning(options, options.get("gate_metric") or "")
    gate = Gate(options.pop("gate_metric"), options.pop("gate_threshold"), options.pop("gate_champion"),
                options.pop("gate_minimize"))
    deploy = {key: options.pop(key) for key in DEPLOY_KEYS}
    deploy["instance_type"] = deploy.pop("serving_instance_type")
    deploy["instance_count"] = deploy.pop("serving_instance_count")
    group, approve, timeout = options.pop("group") or name, options.pop("approve"), options.pop("timeout_seconds")
    batch = {"transform_input": options.pop("transform_input"), "endpoint": not options.pop("no_endpoint")}
    fit = fit_arguments(options.pop("source_dir"), options.pop("channels"), options.pop("hps"),
                        options.pop("metrics"), options.pop("environment"), options)
    entry_point = fit.pop("entry_point")
    if allow_plain_env is not None:
        check_plain_env(fit["environment"], allowed=allow_plain_env)
    if not entry_point:
        raise UsageError("no entry point given", where="--entry-point",
                         hint="give --entry-point (or entry_point in the [pipeline] table of smtrain.toml)")
    fit.pop("job_name")  # jobs are named after each execution
    spec = pipeline_spec(session, name=name, entry_point=entry_point, fit=fit, group=group, approve=approve,
                         deploy=deploy, gate=gate, timeout_seconds=timeout, **batch)
    if tuning is not None:
        from dataclasses import replace

        from smtrain.pipeline.tuning import tuning_spec

        spec = replace(spec, tuning=tuning_spec(spec, tuning))
    if evaluate[0]:
        from dataclasses import replace

        from smtrain.pipeline.evaluation import evaluation_spec

        spec = replace(spec, evaluation=evaluation_spec(session, name, *evaluate))
    if preprocess is not None:
        from dataclasses import replace

        spec = replace(spec, preprocess=preprocess)
    return export(session, spec)


def session_for(options: dict[str, Any], *, quiet: bool = False) -> Any:
    settings = {key: options.pop(key) for key in SETTING_OPTIONS if key in options}
    return make_session(settings, quiet=quiet, max_runtime_seconds=options.pop("max_runtime_seconds", None))


@pipeline.command(name="export")
@pipeline_options
@click.option("--format", "output_format", type=click.Choice(["asl", "cfn", "mermaid"]), default="asl",
              show_default=True, help="The definition, a CloudFormation template, or a Mermaid picture of it.")
@click.option("-o", "--output", "output_path", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--json", "as_json", is_flag=True,
              help='With -o: print {"path", "format", "plan", "uploads"} (without -o the document itself is JSON).')
@ALLOW_PLAIN_ENV
@common_options
def export_command(output_format: str, output_path: str | None, as_json: bool, allow_plain_env: bool,
                   **options: Any) -> None:
    """Write the state machine (ASL), or a CloudFormation template with its least-privilege role."""
    from smtrain.core.errors import UsageError
    from smtrain.pipeline.export import definition_hash

    if as_json and not output_path and output_format == "mermaid":
        raise UsageError("a Mermaid picture is not JSON", where="--json",
                         hint="add -o FILE to get the file's path and plan hash as JSON")
    session = session_for(options, quiet=True)
    exported = build(options, session, allow_plain_env=allow_plain_env)
    document = exported.definition
    if output_format == "cfn":
        from smtrain.pipeline.cfn import template

        document = template(exported)
    if output_format == "mermaid":
        from smtrain.pipeline.mermaid import markdown

        write_document(markdown(document), output_path)
    else:
        write_document(document, output_path)
    for upload in exported.uploads:
        info(f"note: the pipeline reads {upload.uri}; `smtrain pipeline deploy` or `run --local` uploads it")
    if as_json and output_path:
        emit_json({"path": str(output_path), "format": output_format, "plan": definition_hash(exported.definition),
                   "uploads": [upload.uri for upload in exported.uploads]})


def write_document(document: dict[str, Any] | str, output_path: str | None) -> None:
    from smtrain.pipeline.export import to_json

    text = document if isinstance(document, str) else to_json(document)
    if not output_path:
        click.echo(text, nl=False)
        return
    target = Path(output_path)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text)
    partial.replace(target)  # never a half-written file under the name asked for
    info(f"wrote {target}")


@pipeline.command(name="run")
@click.option("--local", "local", is_flag=True, required=True, help="Run on the local backend (required).")
@click.option("--input", "input_text", default="{}", show_default=True, help="The execution input (JSON).")
@click.option("--definition", "definition_path", type=click.Path(exists=True, dir_okay=False),
              help="Run this exported document instead of exporting one from the options.")
@click.option("--execution-name", default="", help="Default: run-<timestamp>.")
@click.option("--json", "as_json", is_flag=True, help="Print the execution (status, output, history) as JSON.")
@pipeline_options
@common_options
def run_command(local: bool, input_text: str, definition_path: str | None, execution_name: str, as_json: bool,
                **options: Any) -> int:
    """Execute the exported document, state by state, against the local backend."""
    from smtrain.pipeline import records
    from smtrain.pipeline.checks import check_input
    from smtrain.pipeline.runner import load_definition, parse_input
    from smtrain.planning.spec import timestamped_name

    options["backend"] = "local"
    session = session_for(options)
    execution_input = parse_input(input_text)
    exported = None
    if definition_path:
        definition = load_definition(Path(definition_path).read_text(), where=definition_path)
        pipeline_name = named_in(definition, where=definition_path)
    else:
        exported = build(options, session)
        definition, pipeline_name = exported.definition, exported.spec.name
    check_input(definition, execution_input)  # the definition refuses it too; this says it before any upload
    name = execution_name or timestamped_name("run")[-27:].lstrip("-")
    records.reserve(session.config.home, pipeline_name, definition, name)  # a used name is refused here
    execution = run_locally(session, definition, pipeline_name, execution_input, name,
                            exported.uploads if exported else [])
    if as_json:
        emit_json(execution.as_dict())
    from smtrain.pipeline.causes import readable_cause

    outcome = f"execution {name}: {execution.status}" + (
        f" ({execution.error}: {readable_cause(execution.cause)})" if execution.error else "")
    (info if execution.status == "SUCCEEDED" else important)(outcome)
    return 0 if execution.status == "SUCCEEDED" else 1


def named_in(definition: dict[str, Any], *, where: str) -> str:
    """The pipeline's name from the Comment `export` writes ("smtrain pipeline NAME; plan ..."), checked."""
    from smtrain.pipeline.spec import check_pipeline_name

    comment = str(definition.get("Comment", ""))
    if not comment.startswith("smtrain pipeline "):
        return "unnamed"
    return check_pipeline_name(comment.split(";")[0].removeprefix("smtrain pipeline ").strip(),
                               where=f"{where}: Comment")


def run_locally(session: Any, definition: dict[str, Any], pipeline_name: str, execution_input: dict[str, Any],
                name: str, uploads: list[Any]) -> Any:
    """Upload, execute and record; on Ctrl-C record it ABORTED, roll back, and say what is left."""
    from smtrain.pipeline import records
    from smtrain.pipeline.build import run_uploads
    from smtrain.pipeline.objects import StoreObjects
    from smtrain.pipeline.runner import Execution, ExecutionAborted, Runner

    home = session.config.home
    client = session.backend.sagemaker()
    try:
        run_uploads(session, uploads)
        with session.reporter.waiting(f"pipeline execution {name}") as spinner:

            def on_event(event: Any) -> None:
                session.reporter.info(event.describe())  # through the reporter: printed above the spinner
                spinner.update(f"{event.state} {event.kind}")

            runner = Runner(definition, client, on_event=on_event, sleep=session.backend.sleep, max_wait_seconds=1.0,
                            objects=StoreObjects(home / "store"))
            execution = runner.run(execution_input, name=name)
    except ExecutionAborted as stop:
        records.save(home, pipeline_name, definition, stop.execution)
        report_rollback(client, stop.execution, pipeline_name, name)
        raise
    except BaseException as exc:  # before the execution started: an upload failed or was interrupted
        stopped = isinstance(exc, KeyboardInterrupt)
        records.save(home, pipeline_name, definition, Execution(
            name, status="ABORTED" if stopped else "FAILED", error="States.Aborted" if stopped else "UploadFailed",
            cause="stopped by Ctrl-C before the first state" if stopped else str(exc)[:1000]))
        raise
    records.save(home, pipeline_name, definition, execution)
    return execution


def report_rollback(client: Any, execution: Any, pipeline_name: str, name: str) -> None:
    """Roll back what the aborted execution created; a second Ctrl-C leaves it as a list of what may remain."""
    from smtrain.pipeline.abort import roll_back

    important(f"execution {name}: ABORTED; rolling back what it created "
              f"(`smtrain pipeline status --name {pipeline_name} {name}` shows its states)")
    try:
        lines = roll_back(client, execution).lines()
    except KeyboardInterrupt:
        data = execution.data if isinstance(execution.data, dict) else {}
        names, endpoint = data.get("names", {}), data.get("args", {}).get("endpoint_name", "")
        lines = ["rollback interrupted; these may be left: "
                 f"endpoint {endpoint} (`smtrain teardown {endpoint}` removes it, its config and model), "
                 f"endpoint config {names.get('config', '?')}, model {names.get('model', '?')}"]
    for line in lines:
        important(line)


@pipeline.command(name="deploy")
@click.option("--state-machine-role", required=True,
              help="The role Step Functions assumes, a name or an ARN (`export --format cfn` writes a "
                   "least-privilege one).")
@click.option("--json", "as_json", is_flag=True, help='Print {"stateMachineArn", "created", "plan"} as JSON.')
@pipeline_options
@ALLOW_PLAIN_ENV
@common_options
def deploy_command(state_machine_role: str, as_json: bool, allow_plain_env: bool, **options: Any) -> None:
    """Upload the source, then create the state machine or update its definition (sagemaker backend)."""
    from smtrain.pipeline import deployment
    from smtrain.pipeline.build import run_uploads

    session = session_for(options)
    sfn = deployment.stepfunctions(session)
    exported = build(options, session, allow_plain_env=allow_plain_env)
    run_uploads(session, exported.uploads)
    role_arn = deployment.state_machine_role_arn(session, state_machine_role)
    arn, created = deployment.deploy(sfn, exported.spec.name, exported.definition, role_arn)
    if as_json:
        from smtrain.pipeline.export import definition_hash

        emit_json({"stateMachineArn": arn, "created": created, "plan": definition_hash(exported.definition)})
    info(f"{'created' if created else 'updated'} {arn}")
    info(f"start it: smtrain pipeline start --backend sagemaker --name {exported.spec.name}")


@pipeline.command(name="start")
@click.option("--name", "pipeline_name", default="smtrain", show_default=True, help="The state machine's name.")
@click.option("--input", "input_text", default="{}", show_default=True, help="The execution input (JSON).")
@click.option("--execution-name", default="", help="Default: run-<timestamp>.")
@click.option("--json", "as_json", is_flag=True, help='Print {"executionArn", "name"} as JSON.')
@common_options
def start_command(pipeline_name: str, input_text: str, execution_name: str, as_json: bool, **settings: Any) -> None:
    """Start an execution; the input is checked against the deployed definition first."""
    from smtrain.pipeline import deployment
    from smtrain.pipeline.checks import check_input
    from smtrain.pipeline.runner import parse_input
    from smtrain.pipeline.spec import check_execution_name, check_pipeline_name
    from smtrain.planning.spec import timestamped_name

    check_pipeline_name(pipeline_name)
    if execution_name:
        check_execution_name(execution_name, pipeline_name)
    execution_input = parse_input(input_text)
    session = make_session(settings)
    sfn = deployment.stepfunctions(session)
    arn = deployment.require(sfn, pipeline_name)
    check_input(json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]), execution_input)
    name = execution_name or timestamped_name("run")[-27:].lstrip("-")
    execution_arn = deployment.start(sfn, pipeline_name, execution_input, name)
    if as_json:
        emit_json({"executionArn": execution_arn, "name": name})
    info(f"started {execution_arn}")
    info(f"follow it: smtrain pipeline status --backend sagemaker --name {pipeline_name} {name}")


@pipeline.command(name="status")
@click.argument("execution", required=False, default="")
@click.option("--json", "as_json", is_flag=True, help="Print the same as JSON.")
@pipeline_options
@common_options
def status_command(execution: str, as_json: bool, **options: Any) -> None:
    """Each state of an execution (default: the newest), and whether the deployed definition is current."""
    from smtrain.pipeline import deployment

    session = session_for(options, quiet=True)
    exported = build(options, session) if options["entry_point"] else None
    name = exported.spec.name if exported else options["pipeline_name"]
    current = exported.definition if exported else None
    if session.backend.name == "local":
        report = local_status(session, name, execution, current)
    else:
        report = deployment.status(deployment.stepfunctions(session), name, execution, current)
    if as_json:
        emit_json(report)
        return
    print_status(report)


def local_status(session: Any, name: str, execution: str, definition: dict[str, Any] | None) -> dict[str, Any]:
    """A local execution's record, and whether it ran what would be exported now."""
    from smtrain.pipeline import records
    from smtrain.pipeline.export import definition_hash

    record = records.load(session.config.home, name, execution)
    ran, current = record.pop("plan"), definition_hash(definition) if definition else ""
    return {"stateMachineArn": f"local pipeline {name}", "deployedPlan": ran, "currentPlan": current,
            "upToDate": ran == current if definition else None, "execution": record}


def print_status(report: dict[str, Any]) -> None:
    """The status report on stdout: it is the command's result, so --quiet keeps it."""
    if report["upToDate"] is None:
        click.echo(f"state machine {report['stateMachineArn']}: plan {report['deployedPlan'] or 'unknown'} "
                   "(give the pipeline's options to compare it with the current export)")
    elif report["upToDate"]:
        click.echo(f"state machine {report['stateMachineArn']}: up to date ({report['currentPlan']})")
    else:
        click.echo(f"state machine {report['stateMachineArn']}: DIFFERS from the current export "
                   f"(deployed {report['deployedPlan'] or 'unknown'}, now {report['currentPlan']}); "
                   "run `smtrain pipeline deploy` to update it")
    execution = report.get("execution")
    if not execution:
        click.echo("no execution yet")
        return
    click.echo(f"execution {execution['name']}: {execution['status']}")
    for state, status in execution["states"].items():
        click.echo(f"  {status:>9}  {state}")
    for label, key in (("training job", "trainingJob"), ("gate", "gate"), ("endpoint", "endpoint")):
        if execution.get(key):
            click.echo(f"  {label}: {execution[key]}")
    if execution.get("error"):
        from smtrain.pipeline.causes import readable_cause

        click.echo(f"  error: {execution['error']}: {readable_cause(str(execution['cause']))}")

"""Commands for serving: deploy, predict, teardown, and the quickstart."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from smtrain.cli.common import KMS_KEY_OPTION, common_options, emit_json, info, make_session

ROW_PLACEHOLDER = "CSV ROW"


DEPLOY_OPTIONS = [
    click.option("--endpoint-name", default="", help="Default: the job name."),
    click.option("--entry-point", default="", help="Inference script (default: the training entry point)."),
    click.option("--source-dir", default=None, type=click.Path(exists=True, file_okay=False),
                 help="Take the inference code from this folder instead of the job's source."),
    click.option("--instance-type", default="", help="SageMaker instance type."),
    click.option("--instance-count", default=1, show_default=True, type=int,
                 help="Instances behind the endpoint (sagemaker backend)."),
    click.option("--serverless-memory", "serverless_memory_mb", default=0, type=int,
                 help="Serverless endpoint with this much memory (MB)."),
    click.option("--serverless-concurrency", "serverless_max_concurrency", default=0, type=int,
                 help="Serverless endpoint: most requests served at once (with --serverless-memory)."),
    click.option("--ttl", "ttl_seconds", default=None, type=int,
                 help="Tag the endpoint to expire after this many seconds."),
    click.option("--workers", default=None, type=int, help="Model server workers (SAGEMAKER_MODEL_SERVER_WORKERS)."),
    click.option("--image-uri", default="", help="Serve on this image (default: the job's own training image)."),
    KMS_KEY_OPTION,
]


def deploy_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The flags of `smtrain deploy`, shared with `smtrain plan deploy`."""
    for option in reversed(DEPLOY_OPTIONS):
        command = option(command)
    return command


@click.command()
@click.argument("job_name", metavar="JOB|GROUP/VERSION")
@deploy_options
@click.option("--json", "as_json", is_flag=True, help="Print DescribeEndpoint plus Url as JSON on stdout.")
@common_options
def deploy(job_name: str, as_json: bool, **options: Any) -> None:
    """Serve a completed job's model, or a registered model version (GROUP/VERSION or a model package ARN),
    at an endpoint (created, or updated if it exists). A version's endpoint is named after its group by default.
    """
    session = make_session(options)
    endpoint = session.deploy(job_name, **options)
    description = session.endpoint(endpoint.name)
    if as_json:
        emit_json({"EndpointName": endpoint.name, "EndpointStatus": description.status, "Url": endpoint.url})
        return
    info(f"endpoint {endpoint.name}: {description.status}")
    if endpoint.url:
        info(f"runtime URL: {endpoint.url}  (boto3.client('sagemaker-runtime', endpoint_url=...))")
    from smtrain.core.hints import suggest

    info(f"try: {suggest(session.config, 'predict', endpoint.name, '--body', ROW_PLACEHOLDER)}; "
         f"remove it: {suggest(session.config, 'teardown', endpoint.name)}")


@click.command()
@click.argument("endpoint_name")
@click.option("--content-type", default="text/csv", show_default=True, help="The request body's media type.")
@click.option("--accept", default="application/json", show_default=True, help="The media type to answer in.")
@click.option("--body", default=None, help="The request body.")
@click.option("--file", "file_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Read the body from a file.")
@click.option("--json", "as_json", is_flag=True,
              help="Print {EndpointName, ContentType, Body} as JSON on stdout (Body parsed when it is JSON).")
@common_options
def predict(endpoint_name: str, content_type: str, accept: str, body: str | None, file_path: str | None,
            as_json: bool, **settings: Any) -> None:
    """Send one request to an endpoint and print the answer (body from --body, --file or stdin)."""
    from smtrain.api.endpoints import invoke
    from smtrain.core.errors import UsageError

    if body is not None and file_path is not None:
        raise UsageError("give --body or --file, not both", where="predict")
    if body is not None:
        payload = body.encode()
    elif file_path is not None:
        with open(file_path, "rb") as handle:
            payload = handle.read()
    elif not sys.stdin.isatty():
        payload = sys.stdin.buffer.read()
    else:
        raise UsageError("no request body", where="predict", hint="pass --body TEXT, --file PATH, or pipe it in")
    session = make_session(settings)
    response = invoke(session.backend, endpoint_name, payload, content_type, accept)
    answer = response["Body"].read()
    if as_json:
        emit_json({"EndpointName": endpoint_name, "ContentType": response.get("ContentType", accept),
                   "Body": parsed_answer(answer)})
        return
    sys.stdout.buffer.write(answer)
    sys.stdout.buffer.write(b"\n")


def parsed_answer(answer: bytes) -> Any:
    """The endpoint's answer as JSON when it is JSON, else as text."""
    import json

    text = answer.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


@click.command()
@click.argument("endpoint_name", required=False)
@click.option("--all", "remove_all", is_flag=True, help="Every endpoint tagged as smtrain's.")
@click.option("--expired", is_flag=True, help="Every smtrain endpoint whose --ttl has passed.")
@click.option("--json", "as_json", is_flag=True, help="Print what was removed, per endpoint, as JSON on stdout.")
@common_options
def teardown(endpoint_name: str | None, remove_all: bool, expired: bool, as_json: bool, **settings: Any) -> None:
    """Remove an endpoint, its endpoint config and its model. Safe to repeat."""
    from smtrain.api.teardown import select_endpoints
    from smtrain.core.errors import UsageError

    if bool(endpoint_name) + remove_all + expired != 1:
        raise UsageError("name one endpoint, or give --all or --expired", where="teardown")
    session = make_session(settings)
    names = [endpoint_name] if endpoint_name else select_endpoints(session, expired_only=expired)
    if not names and not as_json:
        info("no smtrain endpoint to remove")
    results = []
    for name in names:
        removed = session.teardown(name)
        results.append({"EndpointName": name, "Removed": list(removed)})
        if not as_json:
            info(f"removed {', '.join(removed)}" if removed else f"endpoint {name} is already gone; nothing to remove")
    if as_json:
        emit_json(results)

"""Processing jobs as runs, for ``diff``: status, timings, the script's arguments as its parameters, and,
for an evaluation job, the metrics of its evaluation.json (``evaluation:<metric>``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from smtrain.planning.kinds import PROCESSING

if TYPE_CHECKING:
    from smtrain.core.config import Config
    from smtrain.runs.record import Run


def processing_run(config: Config, name: str, *, source: str, client: Any = None) -> Run | None:
    """The processing job ``name`` as a run (local first, then SageMaker as ``source`` says); None if none."""
    from smtrain.runs.store import wants

    body, backend = None, ""
    if wants(source, "local"):
        body, backend = _local_body(config, name), "local"
    if body is None and wants(source, "sagemaker"):
        body, backend = _sagemaker_body(config, name, client), "sagemaker"
    return None if body is None else as_run(config, body, backend)


def as_run(config: Config, body: dict[str, Any], backend: str) -> Run:
    from smtrain.runs.evaluations import PREFIX, report_metrics
    from smtrain.runs.record import from_description

    run = from_description(body, backend, kind=PROCESSING)
    app = body.get("AppSpecification") or {}
    parameters = {"entrypoint": " ".join(app.get("ContainerEntrypoint") or []),
                  "arguments": " ".join(app.get("ContainerArguments") or [])}
    run.encoded_hyperparameters = {key: json.dumps(value) for key, value in parameters.items() if value}
    cluster = (body.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    run.instance_type, run.instance_count = cluster.get("InstanceType", ""), int(cluster.get("InstanceCount", 1))
    run.image = app.get("ImageUri", "")
    run.metrics.update({PREFIX + k: v for k, v in report_metrics(config, body, backend).items()})
    return run


def _local_body(config: Config, name: str) -> dict[str, Any] | None:
    from smtrain.backends.local.store.reader import read_only

    with read_only(config.home) as db:
        if db is None:
            return None
        row = db.execute("SELECT body FROM resources WHERE kind=? AND name=?", (PROCESSING.arn_type, name)).fetchone()
    body = json.loads(row[0]) if row else None
    return body if body and PROCESSING.status_key in body else None  # a reservation is not a job yet


def _sagemaker_body(config: Config, name: str, client: Any) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    from smtrain.runs.store import sagemaker_client

    client = client or sagemaker_client(config)
    try:
        body: dict[str, Any] = client.describe_processing_job(ProcessingJobName=name)
    except ClientError:
        return None
    arn = body.get(PROCESSING.arn_key, "")
    body["Tags"] = client.list_tags(ResourceArn=arn).get("Tags", []) if arn else []
    return body

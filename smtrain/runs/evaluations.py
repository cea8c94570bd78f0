"""A training run's evaluation: the metrics its newest Completed evaluation job (``smtrain evaluate``) wrote
to evaluation.json, shown by ``show``, ``diff`` and ``report`` as ``evaluation:<metric>`` beside the training
metrics (and so usable in ``report --gate evaluation:accuracy>=0.9``).

An evaluation job names the training job it evaluated in its ``smtrain:evaluates`` tag. Reading is best
effort: a report that cannot be read leaves the run as it was, a listing never fails on one. On SageMaker
the candidates are the processing jobs whose name holds the training job's (as ``smtrain evaluate`` names
them by default); ``register --evaluation`` names its evaluation job itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtrain.core.errors import SmtrainError

if TYPE_CHECKING:
    from smtrain.core.config import Config
    from smtrain.runs.record import Run

PREFIX = "evaluation:"
EVALUATES_TAG = "smtrain:evaluates"
REPORT_MAX_BYTES = 1 << 20
LOOKED_AT = 10  # the newest candidates read on SageMaker (one ListTags call each)


def with_evaluation(config: Config, run: Run, *, client: Any = None) -> Run:
    """``run`` with its evaluation's metrics (``evaluation:<name>``) and the evaluation job's name."""
    if run.kind != "training" or run.status != "Completed":
        return run
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        found = (local_evaluation(config.home, run.name) if run.backend == "local"
                 else sagemaker_evaluation(config, run.name, client=client))
    except (SmtrainError, OSError, ValueError, BotoCoreError, ClientError):
        return run
    if found is not None:
        run.evaluation_job, metrics = found
        run.metrics.update({PREFIX + name: value for name, value in metrics.items()})
    return run


def local_evaluation(home: Path, training_job: str) -> tuple[str, dict[str, float]] | None:
    from smtrain.backends.local.store.reader import read_only
    from smtrain.core.uris import to_path
    from smtrain.planning.kinds import PROCESSING

    with read_only(home) as db:
        if db is None:
            return None
        rows = db.execute("SELECT body FROM resources WHERE kind=?", (PROCESSING.arn_type,)).fetchall()
    bodies = [json.loads(row[0]) for row in rows]
    mine = [body for body in bodies if _evaluates(body.get("_local", {}).get("tags", []), training_job)
            and body.get(PROCESSING.status_key) == "Completed"]
    for body in sorted(mine, key=lambda b: str(b.get("CreationTime", "")), reverse=True):
        uri = _report_uri(body)
        path = to_path(uri) if uri else None
        if path is not None and path.is_file() and path.stat().st_size <= REPORT_MAX_BYTES:
            return body[PROCESSING.name_key], _metrics(path.read_bytes(), uri)
    return None


def report_metrics(config: Config, description: dict[str, Any], backend: str) -> dict[str, float]:
    """The metrics of the evaluation.json a processing job wrote; {} when it wrote none that can be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    uri = _report_uri(description)
    if not uri:
        return {}
    try:
        body = _read_local(uri) if backend == "local" else _read_s3(config, uri)
        return _metrics(body, uri) if body is not None else {}
    except (SmtrainError, OSError, ValueError, BotoCoreError, ClientError):
        return {}


def _read_local(uri: str) -> bytes | None:
    from smtrain.core.uris import to_path

    path = to_path(uri)
    return path.read_bytes() if path.is_file() and path.stat().st_size <= REPORT_MAX_BYTES else None


def _read_s3(config: Config, uri: str) -> bytes:
    from smtrain.core.uris import split_s3
    from smtrain.runs.store import sagemaker_client

    bucket, key = split_s3(uri)
    s3 = sagemaker_client(config, "s3")
    return bytes(s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{REPORT_MAX_BYTES}")["Body"].read())


def sagemaker_evaluation(config: Config, training_job: str, *, client: Any = None
                         ) -> tuple[str, dict[str, float]] | None:
    """The newest Completed processing job tagged as evaluating ``training_job`` among those whose name holds
    the training job's (``smtrain evaluate`` names them ``<job>-eval-<timestamp>``): SageMaker's Search API
    has no processing jobs, and ListProcessingJobs filters on names, not tags."""
    from smtrain.runs.store import sagemaker_client

    client = client or sagemaker_client(config)
    listed = client.list_processing_jobs(NameContains=training_job[:30], StatusEquals="Completed",
                                         SortBy="CreationTime", SortOrder="Descending", MaxResults=LOOKED_AT)
    for summary in listed.get("ProcessingJobSummaries", []):
        tags = client.list_tags(ResourceArn=summary["ProcessingJobArn"]).get("Tags", [])
        if not _evaluates(tags, training_job):
            continue
        job = client.describe_processing_job(ProcessingJobName=summary["ProcessingJobName"])
        uri = _report_uri(job)
        if uri:
            return job["ProcessingJobName"], _metrics(_read_s3(config, uri), uri)
    return None


def _evaluates(tags: list[dict[str, str]], training_job: str) -> bool:
    return any(tag.get("Key") == EVALUATES_TAG and tag.get("Value") == training_job for tag in tags)


def _report_uri(description: dict[str, Any]) -> str:
    from smtrain.planning.evaluation import report_uri

    try:
        return report_uri(description)
    except SmtrainError:
        return ""


def _metrics(body: bytes, uri: str) -> dict[str, float]:
    from smtrain.planning.evaluation import metrics_of

    return metrics_of(json.loads(body), source=uri)

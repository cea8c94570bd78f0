"""Runs of the local backend, read straight from ``$SMTRAIN_HOME/state.db``, read-only.

Listing must stay fast at 10,000 runs (replicate/keepsake PR #37: read one
small record per run). SQLite extracts the few fields a listing shows from
each job's JSON body and hands Python one JSON array, so Python parses one
string rather than 10,000 documents. Nothing here creates a store.

Metric history is a JSON-lines file per job, ``jobs/<job>/metrics.jsonl``,
appended by the job supervisor as the log lines match ``MetricDefinitions``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtrain.backends.local.store.reader import (
    has_run_index,
    history_file,
    read_only,
    settled_description,
    supervisor_alive,
)
from smtrain.core import metric_values

if TYPE_CHECKING:  # imported where used: `smtrain ls` with no store needs neither
    import sqlite3

    from smtrain.runs.record import Run

KIND = "training-job"
RUNNING = ("InProgress", "Stopping")
_FIELDS = {  # Run field <- JSON path in the DescribeTrainingJob body
    "TrainingJobName": "$.TrainingJobName",
    "TrainingJobStatus": "$.TrainingJobStatus",
    "CreationTime": "$.CreationTime",
    "TrainingStartTime": "$.TrainingStartTime",
    "TrainingEndTime": "$.TrainingEndTime",
    "HyperParameters": "$.HyperParameters",
    "FinalMetricDataList": "$.FinalMetricDataList",
    "TrainingJobArn": "$.TrainingJobArn",
    "BillableTimeInSeconds": "$.BillableTimeInSeconds",
    "ResourceConfig": "$.ResourceConfig",
    "ModelArtifacts": "$.ModelArtifacts",
    "AlgorithmSpecification": "$.AlgorithmSpecification",
    "FailureReason": "$.FailureReason",
    "_local": "$._local",
}
_ROW = "json_object(" + ", ".join(f"'{key}', json_extract(body, '{path}')" for key, path in _FIELDS.items()) + ")"
_OBJECTS = ("HyperParameters", "FinalMetricDataList", "ResourceConfig", "ModelArtifacts", "AlgorithmSpecification",
            "_local")


def list_runs(home: Path, *, statuses: Sequence[str] = (), newest: int | None = None) -> tuple[list[Run], int]:
    """Local runs, newest first: the ``newest`` N (all if None) with one of ``statuses``, and how many match."""
    with read_only(home) as db:
        if db is None:
            return [], 0
        if not has_run_index(db):  # a store no smtrain with the index has written to yet
            runs = [r for r in _runs_from_documents(db) if not statuses or r[0].status.lower() in _lower(statuses)]
            endpoints = _endpoints_by_model(db)
            total, runs = len(runs), runs[:newest] if newest else runs
        else:
            where, params = _status_clause(statuses)
            total = db.execute(f"SELECT count(*) FROM run_rows {where}", params).fetchone()[0]
            limit = f"LIMIT {int(newest)}" if newest else ""
            text = db.execute(f"SELECT '[' || group_concat(row, ',') || ']' FROM (SELECT row FROM run_rows {where} "
                              f"ORDER BY created DESC {limit})", params).fetchone()[0]
            runs = [_from_row(row) for row in json.loads(text or "[]")]
            endpoints = _endpoints_by_model(db)
    settled = [_settled(home, run, pid) for run, pid in runs]
    for run in settled:
        run.endpoints = endpoints.get(run.model_data, [])
    return settled, total


def _lower(statuses: Sequence[str]) -> set[str]:
    return {s.lower() for s in statuses}


def _status_clause(statuses: Sequence[str]) -> tuple[str, list[str]]:
    if not statuses:
        return "", []
    wanted = sorted(_lower(statuses))
    return f"WHERE lower(status) IN ({', '.join('?' * len(wanted))})", wanted


def _from_row(row: dict[str, Any]) -> tuple[Run, int]:
    """A run from its index row (see index.py): only what listing needs; and its supervisor's pid."""
    from smtrain.runs.record import Run

    hyperparameters = dict(_nested(row.get("HyperParameters")) or {})
    if row.get("sagemaker_program"):
        hyperparameters["sagemaker_program"] = row["sagemaker_program"]
    metrics = _nested(row.get("FinalMetricDataList")) or []
    tags = _nested(row.get("Tags")) or []
    model = _nested(row.get("ModelArtifacts")) or {}
    run = Run(name=row["Name"], backend="local", kind=row.get("Kind") or "training", status=row.get("Status") or "",
              created=row.get("CreationTime") or "", started=row.get("StartTime") or "",
              ended=row.get("EndTime") or "", encoded_hyperparameters=hyperparameters,
              metrics=metric_values.by_name(metrics),
              tags={t["Key"]: t["Value"] for t in tags}, model_data=model.get("S3ModelArtifacts", ""),
              instance_type=row.get("InstanceType") or "")
    return run, int(row.get("supervisor_pid") or 0)


def _nested(value: Any) -> Any:
    """A nested value of an index row: JSON already, or JSON text (SQLite versions differ)."""
    return json.loads(value) if isinstance(value, str) else value


def _settled(home: Path, run: Run, pid: int) -> Run:
    """A run whose supervisor died while it ran gets its final status from the local API."""
    if run.kind == "training" and run.status in RUNNING and not supervisor_alive({"_local": {"supervisor_pid": pid}}):
        from smtrain.runs.record import from_description

        body = settled_description(home, run.name)
        if body is not None:
            return from_description(body, "local")
    return run


def _runs_from_documents(db: sqlite3.Connection) -> list[tuple[Run, int]]:
    from smtrain.runs.record import from_description

    text = db.execute(f"SELECT json_group_array(json({_ROW})) FROM resources WHERE kind=?", (KIND,)).fetchone()[0]
    runs = []
    for body in json.loads(text or "[]"):
        for key in _OBJECTS:
            if isinstance(body.get(key), str):  # json_extract hands nested objects back as JSON text
                body[key] = json.loads(body[key])
        runs.append((from_description(body, "local"), int((body.get("_local") or {}).get("supervisor_pid", 0) or 0)))
    runs.sort(key=lambda pair: pair[0].created, reverse=True)
    return runs


def get_run(home: Path, name: str) -> Run | None:
    from smtrain.runs.record import from_description

    with read_only(home) as db:
        if db is None:
            return None
        row = db.execute("SELECT body FROM resources WHERE kind=? AND name=?", (KIND, name)).fetchone()
        endpoints = _endpoints_by_model(db) if row else {}
    if row is None:
        return None
    body = json.loads(row[0])
    if body.get("TrainingJobStatus") in RUNNING and not supervisor_alive(body):
        body = settled_description(home, name) or body
    run = from_description(body, "local")
    run.endpoints = endpoints.get(run.model_data, [])
    return run


def metric_history(home: Path, name: str) -> list[dict[str, Any]]:
    """Every metric value the job logged, in order: ``{"MetricName", "Value", "Timestamp"}``."""
    path = history_file(home, name)
    if not path.is_file():
        return []
    points = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            point = json.loads(line)  # an older smtrain wrote NaN, which json reads
        except ValueError:
            continue  # a line cut short by a crash
        if isinstance(point, dict) and "MetricName" in point:
            points.append(metric_values.stored(point))
    return points


def _endpoints_by_model(db: sqlite3.Connection) -> dict[str, list[dict[str, str]]]:
    """Model artifact URI -> the endpoints serving it (name, status, expiry)."""
    bodies: dict[str, dict[str, dict[str, Any]]] = {"model": {}, "endpoint-config": {}, "endpoint": {}}
    rows = db.execute("SELECT kind, name, body FROM resources WHERE kind IN ('model', 'endpoint-config', 'endpoint')")
    for kind, name, body in rows:
        bodies[kind][name] = json.loads(body)
    serving: dict[str, list[dict[str, str]]] = {}
    for name, endpoint in bodies["endpoint"].items():
        config = bodies["endpoint-config"].get(endpoint.get("EndpointConfigName", ""), {})
        tags = {t["Key"]: t["Value"] for t in (endpoint.get("_local") or {}).get("tags", [])}
        for variant in config.get("ProductionVariants", []):
            model = bodies["model"].get(variant.get("ModelName", ""), {})
            uri = (model.get("PrimaryContainer") or {}).get("ModelDataUrl", "")
            serving.setdefault(uri, []).append({"name": name, "status": endpoint.get("EndpointStatus", ""),
                                                "expires": tags.get("smtrain:expires-at", "")})
    return serving

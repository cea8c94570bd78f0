"""Optional MLflow logging of finished runs, from their stored record.

On when ``MLFLOW_TRACKING_URI`` is set and mlflow (``pip install 'smtrain[mlflow]'``,
mlflow-skinny) is installed. Each run becomes one MLflow run in the experiment
``MLFLOW_EXPERIMENT_NAME`` (default ``smtrain``): parameters, every metric value
with its time and step, tags (git commit, job ARN, image, the user's), and the
model URI. A run already logged (tag ``smtrain.job``) is not logged twice.
A SageMaker managed-MLflow tracking server (an ARN as URI) needs the
``sagemaker-mlflow`` plugin, and smtrain says so.
"""

from __future__ import annotations

import os
from typing import Any

from smtrain.config import Config
from smtrain.errors import UsageError
from smtrain.runs.metric_values import value_of
from smtrain.runs.record import Run, parse_time

STATUS = {"Completed": "FINISHED", "Failed": "FAILED", "Stopped": "KILLED"}
BATCH = 200  # log_batch takes at most 1000 metrics and 100 params per call


def enabled() -> bool:
    return bool(os.environ.get("MLFLOW_TRACKING_URI"))


def log_finished_run(config: Config, job_name: str, say: Any) -> str:
    """Log the run if MLflow tracking is configured; never fails the caller: problems are said, not raised."""
    if not enabled():
        return ""
    from smtrain.errors import SmtrainError
    from smtrain.runs import store

    try:
        run = store.get_run(config, job_name, source="local" if config.is_local else "sagemaker")
        run_id = log_run(run, store.metric_history(config, run), os.environ["MLFLOW_TRACKING_URI"])
    except SmtrainError as exc:
        say(f"warning: not logged to MLflow: {exc}")
        return ""
    except Exception as exc:  # the tracking server's own errors: the training itself succeeded
        say(f"warning: not logged to MLflow: {type(exc).__name__}: {exc}")
        return ""
    say(f"logged to MLflow as run {run_id}")
    return run_id


def log_run(run: Run, history: list[dict[str, Any]], tracking_uri: str) -> str:
    """Log ``run`` to the tracking server; returns the MLflow run id (the existing one if already logged)."""
    client = _client(tracking_uri)
    experiment = _experiment(client, os.environ.get("MLFLOW_EXPERIMENT_NAME") or "smtrain")
    logged = client.search_runs([experiment], f"tags.`smtrain.job` = '{run.name}'", max_results=1)
    if logged:
        return str(logged[0].info.run_id)
    from mlflow.entities import Metric, Param, RunTag

    started = _millis(run.started or run.created)
    mlflow_run = client.create_run(experiment, start_time=started, run_name=run.name, tags=tags(run))
    run_id = mlflow_run.info.run_id
    steps: dict[str, int] = {}
    metrics = []
    for point in history or _final_points(run):
        name = point["MetricName"]
        metrics.append(Metric(name, value_of(point), _millis(str(point["Timestamp"])), steps.get(name, 0)))
        steps[name] = steps.get(name, 0) + 1
    params = [Param(key, str(value)[:6000]) for key, value in run.hyperparameters.items()]
    for start in range(0, max(len(metrics), len(params), 1), BATCH):
        client.log_batch(run_id, metrics=metrics[start:start + BATCH], params=params[start:start + BATCH],
                         tags=[RunTag("smtrain.logged", "true")] if start == 0 else [])
    client.set_terminated(run_id, STATUS.get(run.status, "FINISHED"), end_time=_millis(run.ended) or None)
    return str(run_id)


def tags(run: Run) -> dict[str, str]:
    found = {"smtrain.job": run.name, "smtrain.job_arn": run.arn, "smtrain.backend": run.backend,
             "smtrain.image": run.image, "smtrain.model_uri": run.model_data, "smtrain.status": run.status,
             "mlflow.source.git.commit": run.git_commit, "smtrain.git_dirty": str(run.git_dirty).lower()}
    found.update(run.user_tags)
    return {k: v for k, v in found.items() if v}


def _client(tracking_uri: str) -> Any:
    if tracking_uri.startswith("arn:aws:sagemaker"):
        try:
            import sagemaker_mlflow  # noqa: F401 - registers the arn: tracking URI scheme
        except ImportError:
            raise UsageError("MLFLOW_TRACKING_URI is a SageMaker managed MLflow server, which needs a plugin",
                             where="MLFLOW_TRACKING_URI", hint="pip install sagemaker-mlflow") from None
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise UsageError("MLFLOW_TRACKING_URI is set but mlflow is not installed", where="MLFLOW_TRACKING_URI",
                         hint="pip install 'smtrain[mlflow]' (mlflow-skinny), or unset the variable") from None
    return MlflowClient(tracking_uri)


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return str(found.experiment_id if found else client.create_experiment(name))


def _final_points(run: Run) -> list[dict[str, Any]]:
    return [{"MetricName": k, "Value": v, "Timestamp": run.ended or run.created} for k, v in run.metrics.items()]


def _millis(text: str) -> int:
    when = parse_time(text)
    return int(when.timestamp() * 1000) if when else 0

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

from smtrain.core.config import Config
from smtrain.core.errors import UsageError
from smtrain.core.metric_values import value_of
from smtrain.runs.record import Run, parse_time

STATUS = {"Completed": "FINISHED", "Failed": "FAILED", "Stopped": "KILLED"}
BATCH = 100  # log_batch takes at most 1000 metrics and 100 params per call
LOGGED = "smtrain.logged"  # set last: a run without it was not logged whole
MAX_NAME = 250  # mlflow.utils.validation.MAX_ENTITY_KEY_LENGTH
MAX_PARAM_VALUE = 6000  # MAX_PARAM_VAL_LENGTH
MAX_TAG_VALUE = 5000  # MAX_TAG_VAL_LENGTH in MLflow 2 (8000 in 3)


def enabled() -> bool:
    return bool(os.environ.get("MLFLOW_TRACKING_URI"))


def log_finished_run(config: Config, job_name: str, say: Any) -> str:
    """Log the run if MLflow tracking is configured; never fails the caller: problems are said, not raised."""
    if not enabled():
        return ""
    from smtrain.core.errors import SmtrainError
    from smtrain.runs import store

    try:
        run = store.get_run(config, job_name, source="local" if config.is_local else "sagemaker")
        run_id = log_run(run, store.metric_history(config, run), os.environ["MLFLOW_TRACKING_URI"])
    except (SmtrainError, NotLogged) as exc:
        say(f"warning: not logged to MLflow: {exc}")
        return ""
    except Exception as exc:  # the tracking server's own errors: the training itself succeeded
        say(f"warning: not logged to MLflow: {type(exc).__name__}: {exc}")
        return ""
    say(f"logged to MLflow as run {run_id}")
    return run_id


def log_run(run: Run, history: list[dict[str, Any]], tracking_uri: str) -> str:
    """Log ``run`` to the tracking server; returns the MLflow run id (the existing one if already logged).

    Every name is checked first, so a run MLflow would refuse is never created. A run whose logging fails
    part-way is ended FAILED, stays without the ``smtrain.logged`` tag (so it never counts as logged, and the
    next attempt logs afresh), and the error is raised."""
    client = _client(tracking_uri)
    params, metrics, run_tags = _entries(run, history)
    check_names(params, metrics, run_tags)
    experiment = _experiment(client, os.environ.get("MLFLOW_EXPERIMENT_NAME") or "smtrain")
    logged = client.search_runs([experiment], f"tags.`smtrain.job` = '{run.name}' and tags.`{LOGGED}` = 'true'",
                                max_results=1)
    if logged:
        return str(logged[0].info.run_id)
    started = _millis(run.started or run.created)
    mlflow_run = client.create_run(experiment, start_time=started, run_name=run.name, tags=run_tags)
    run_id = mlflow_run.info.run_id
    try:
        for start in range(0, max(len(metrics), len(params), 1), BATCH):
            client.log_batch(run_id, metrics=metrics[start:start + BATCH], params=params[start:start + BATCH])
        client.set_tag(run_id, LOGGED, "true")
    except Exception as exc:
        raise NotLogged(run_id, exc, _end_failed(client, run_id)) from exc
    except BaseException:  # Ctrl-C: the run is not left RUNNING either
        _end_failed(client, run_id)
        raise
    client.set_terminated(run_id, STATUS.get(run.status, "FINISHED"), end_time=_millis(run.ended) or None)
    return str(run_id)


def _end_failed(client: Any, run_id: str) -> Exception | None:
    """End the run FAILED; the error if even that failed (the server is gone)."""
    try:
        client.set_terminated(run_id, "FAILED")
    except Exception as exc:
        return exc
    return None


class NotLogged(Exception):
    """Logging failed after the MLflow run was created; the run was ended FAILED (unless ``ending`` says why
    it could not be)."""

    def __init__(self, run_id: str, error: BaseException, ending: BaseException | None = None) -> None:
        ended = f"could not be ended ({type(ending).__name__}: {ending})" if ending else "was ended FAILED"
        super().__init__(f"{type(error).__name__}: {error} (MLflow run {run_id} {ended})")
        self.run_id = run_id


def _entries(run: Run, history: list[dict[str, Any]]) -> tuple[list[Any], list[Any], dict[str, str]]:
    from mlflow.entities import Metric, Param

    steps: dict[str, int] = {}
    metrics = []
    for point in history or _final_points(run):
        name = point["MetricName"]
        metrics.append(Metric(name, value_of(point), _millis(str(point["Timestamp"])), steps.get(name, 0)))
        steps[name] = steps.get(name, 0) + 1
    params = [Param(key, str(value)[:MAX_PARAM_VALUE]) for key, value in run.hyperparameters.items()]
    return params, metrics, {k: v[:MAX_TAG_VALUE] for k, v in tags(run).items()}


def check_names(params: list[Any], metrics: list[Any], run_tags: dict[str, str]) -> None:
    """Every name as MLflow's own validation takes it (mlflow.utils.validation), before anything is created."""
    try:
        from mlflow.utils.validation import _validate_metric_name, _validate_param_name, _validate_tag_name
    except ImportError:  # another mlflow layout: the server's answer is then the check
        return
    wrong = []
    for kind, names, validate in (("parameter", [p.key for p in params], _validate_param_name),
                                  ("metric", sorted({m.key for m in metrics}), _validate_metric_name),
                                  ("tag", list(run_tags), _validate_tag_name)):
        for name in names:
            try:
                if len(name) > MAX_NAME:
                    raise ValueError(f"longer than MLflow's {MAX_NAME} characters")
                validate(name)
            except Exception as exc:  # MlflowException: its message says which characters are allowed
                wrong.append(f"{kind} {name[:80]!r}: {str(exc).split(': ', 1)[-1]}")
    if wrong:
        raise UsageError(f"MLflow would refuse {len(wrong)} name(s), so no MLflow run was created: "
                         + "; ".join(wrong[:5]), where="MLflow logging",
                         hint="rename them (MLflow takes letters, digits, _ - . space : and /); the job itself "
                              "is not affected")


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

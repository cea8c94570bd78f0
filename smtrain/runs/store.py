"""Where runs are found: the project's local store and, when configured, SageMaker.

Read-only: nothing here creates a store. A SageMaker client is made only
when SageMaker is asked for (``--backend sagemaker|all``, or configured).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from smtrain.core.config import Config
from smtrain.core.errors import NotFoundError, UsageError
from smtrain.runs import local

if TYPE_CHECKING:
    from smtrain.runs.record import Run

SOURCES = ("local", "sagemaker", "all")


def default_source(config: Config) -> str:
    """Both when SageMaker is the configured backend, else the local store only."""
    return "all" if config.backend == "sagemaker" else "local"


def wants(source: str, backend: str) -> bool:
    if source not in SOURCES:
        raise UsageError(f"unknown backend {source!r}", where="--backend", hint=f"use one of: {', '.join(SOURCES)}")
    return source in (backend, "all")


def sagemaker_client(config: Config, service: str = "sagemaker") -> Any:
    from smtrain.aws.session import AwsSession

    return AwsSession.from_config(config).client(service)


@contextmanager
def translating(where: str) -> Iterator[None]:
    from smtrain.aws.translation import is_aws_error, translate

    try:
        yield
    except (UsageError, NotFoundError):
        raise
    except Exception as exc:
        if not is_aws_error(exc):
            raise
        raise translate(exc, where=where, listing="smtrain ls") from exc


def list_runs(config: Config, source: str, *, client: Any = None, statuses: Sequence[str] = (),
              newest: int | None = None) -> tuple[list[Run], int]:
    """Runs from the local store and/or SageMaker, newest first: the ``newest`` N (all if None) with one of
    ``statuses``, and how many match in all."""
    runs: list[Run] = []
    total = 0
    if wants(source, "local"):
        found, count = local.list_runs(config.home, statuses=statuses, newest=newest)
        runs, total = runs + found, total + count
    if wants(source, "sagemaker"):
        from smtrain.runs import sagemaker

        wanted = {s.lower() for s in statuses}
        with translating("SageMaker Search"):
            client = client or sagemaker_client(config)
            found = [r for r in (*sagemaker.iter_runs(client), *sagemaker.iter_other_runs(client))
                     if not wanted or r.status.lower() in wanted]
        runs, total = runs + found, total + len(found)
    runs.sort(key=lambda r: r.created, reverse=True)
    return (runs[:newest] if newest else runs), total


def get_run(config: Config, name: str, *, source: str = "", client: Any = None) -> Run:
    """One run by name: the local store first, then SageMaker when asked for or configured; a training run
    carries its evaluation's metrics as ``evaluation:<name>`` (see :mod:`smtrain.runs.evaluations`)."""
    from smtrain.runs.evaluations import with_evaluation

    return with_evaluation(config, _get_run(config, name, source=source, client=client), client=client)


def get_any_run(config: Config, name: str, *, source: str = "", client: Any = None) -> Run:
    """A training run, or else the processing job called ``name`` as a run (what ``diff`` compares)."""
    try:
        return get_run(config, name, source=source, client=client)
    except NotFoundError as missing:
        from smtrain.runs.processing_runs import processing_run

        run = processing_run(config, name, source=source or default_source(config), client=client)
        if run is None:
            raise missing from None
        return run


def _get_run(config: Config, name: str, *, source: str = "", client: Any = None) -> Run:
    source = source or default_source(config)
    if wants(source, "local"):
        run = local.get_run(config.home, name)
        if run is not None:
            return run
    if wants(source, "sagemaker"):
        from smtrain.runs import sagemaker

        with translating(f"training job {name}"):
            return sagemaker.get_run(client or sagemaker_client(config), name)
    raise NotFoundError(f"no run named {name!r} in {config.home}", where=f"run {name}",
                        hint="`smtrain ls` lists runs; add --backend sagemaker for SageMaker jobs")


def metric_history(config: Config, run: Run, *, cloudwatch: Any = None) -> list[dict[str, Any]]:
    """Every value of every metric over time (local: the job's log matches; SageMaker: CloudWatch)."""
    if run.backend == "local":
        return local.metric_history(config.home, run.name)
    from smtrain.runs import sagemaker

    try:
        with translating(f"CloudWatch metrics of {run.name}"):
            return sagemaker.metric_history(cloudwatch or sagemaker_client(config, "cloudwatch"), run,
                                            sorted(run.metrics))
    except NotFoundError:
        return []


def require_store(config: Config, wanted: str = "") -> None:
    """For commands that only read: say so when there is no store, rather than create one."""
    from smtrain.backends.local.store.reader import store_exists

    if config.is_local and not store_exists(config.home):
        raise NotFoundError(f"{wanted + ': ' if wanted else ''}no smtrain store at {config.home}",
                            where="project",
                            hint="run from inside your project (a folder with smtrain.toml or .smtrain/), "
                                 "or set SMTRAIN_HOME")

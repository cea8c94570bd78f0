"""Hyperparameter tuning in the Python API: ``sm.tune(...)``, a :class:`Tuner`, its results and best job.

:class:`TuningOperations` is mixed into :class:`smtrain.api.session.Session`, which provides the
configuration, the backend, the reporter, ``training_spec``, ``job`` and ``planning_config``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtrain.api.arguments import speaks_python
from smtrain.backends.base import Backend
from smtrain.core.config import Config
from smtrain.core.errors import NotFoundError, UsageError
from smtrain.execution.executor import Reporter, call, execute, list_all
from smtrain.planning.kinds import TUNING
from smtrain.planning.steps import Plan

if TYPE_CHECKING:
    from smtrain.api.resources import TrainingJob
    from smtrain.planning.spec import TrainingSpec
    from smtrain.planning.tuning import ParameterRange, TuningSpec


@dataclass(frozen=True)
class Tuner:
    """A tuning job, as DescribeHyperParameterTuningJob answers; its trials are training jobs."""

    name: str
    status: str
    description: dict[str, Any]
    session: TuningOperations | None = field(default=None, repr=False, compare=False)

    @property
    def failure_reason(self) -> str:
        return str(self.description.get("FailureReason", ""))

    @property
    def objective(self) -> dict[str, str]:
        """``{"MetricName": ..., "Type": "Maximize"|"Minimize"}``."""
        return dict(self.description["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"])

    @property
    def best_job(self) -> TrainingJob:
        """The trial with the best objective value (SageMaker's ``BestTrainingJob``)."""
        return self._session().job(best_training_job_name(self.description))

    def results(self) -> Any:
        """One row per trial, best first: ``job``, ``status``, the objective, and each tuned hyperparameter."""
        return self._session().tuning_results(self.name)

    def _session(self) -> TuningOperations:
        if self.session is None:
            raise UsageError(f"tuning job {self.name} is not attached to a session", where="Tuner",
                             hint="get tuners from a Session: sm.tuner(name) or sm.tune(...)")
        return self.session


def best_training_job_name(description: Mapping[str, Any]) -> str:
    best = description.get("BestTrainingJob") or {}
    if not best.get("TrainingJobName"):
        name = description.get(TUNING.name_key, "")
        raise NotFoundError(f"tuning job {name} has no completed trial with an objective value yet",
                            where=f"tuning job {name}",
                            hint="wait for a trial to complete (`smtrain show` lists them), or look at its "
                                 "failed trials' logs")
    return str(best["TrainingJobName"])


def best_training_job(session: Any, name: str) -> str:
    """The name of the tuning job ``name``'s best training job (for deploy, register and transform)."""
    description = call(session.backend, TUNING.describe, {TUNING.name_key: name}, where=f"tuning job {name}")
    return best_training_job_name(description)


class TuningOperations:
    """Mixed into ``Session``."""

    config: Config
    backend: Backend
    reporter: Reporter

    if TYPE_CHECKING:
        def training_spec(self, entry_point: str, *, source_dir: str | Path = ".", channels: dict[str, str],
                          hyperparameters: dict[str, Any] | None = None, job_name: str = "", **options: Any
                          ) -> TrainingSpec: ...

        def job(self, name: str) -> TrainingJob: ...

        def planning_config(self) -> Config: ...

    @speaks_python
    def tuning_spec(
        self, entry_point: str, *, ranges: Mapping[str, str | ParameterRange] | Sequence[str], objective: str,
        metric_definitions: Mapping[str, str], minimize: bool = False, max_jobs: int | None = None,
        max_parallel: int = 1, strategy: str = "Bayesian", early_stopping: str = "Off",
        random_seed: int | None = None, warm_start: str | Sequence[str] = (), source_dir: str | Path = ".",
        channels: Mapping[str, str] | None = None, hyperparameters: Mapping[str, Any] | None = None,
        job_name: str = "", **training_options: Any,
    ) -> TuningSpec:
        """The checked tuning spec (see :meth:`tune` for the arguments); raises UsageError naming the flag."""
        from smtrain.planning.tuning import TuningSpec, check_tuning, default_tuning_name

        parsed = parse_ranges(ranges)
        name = job_name or default_tuning_name(entry_point)
        training = self.training_spec(entry_point, source_dir=source_dir, channels=dict(channels or {}),
                                      hyperparameters=dict(hyperparameters or {}), job_name=name,
                                      metric_definitions=dict(metric_definitions), **training_options)
        spec = TuningSpec(training=training, ranges=parsed, objective=objective,
                          objective_type="Minimize" if minimize else "Maximize", max_jobs=max_jobs,
                          max_parallel=max_parallel, strategy=strategy, early_stopping=early_stopping,
                          random_seed=random_seed,
                          warm_start=(warm_start,) if isinstance(warm_start, str) and warm_start
                          else tuple(warm_start or ()))
        check_tuning(spec)
        return spec

    def plan_tune(self, spec: TuningSpec, *, root: str = "") -> Plan:
        """The requests `tune` sends; ``root`` overrides where artifacts go (for offline planning)."""
        from smtrain.planning.tuning import plan_tune

        training = spec.training
        image = training.image_uri or self.backend.image_uri(training.framework_version or
                                                             self.config.framework_version)
        return plan_tune(spec, self.planning_config(), root=root or self.backend.artifact_root(),
                         image_uri=image, role=self.backend.role())

    @speaks_python
    def tune(
        self, entry_point: str, *, ranges: Mapping[str, str | ParameterRange] | Sequence[str], objective: str,
        metric_definitions: Mapping[str, str], minimize: bool = False, max_jobs: int | None = None,
        max_parallel: int = 1, strategy: str = "Bayesian", early_stopping: str = "Off",
        random_seed: int | None = None, warm_start: str | Sequence[str] = (), source_dir: str | Path = ".",
        channels: Mapping[str, str] | None = None, hyperparameters: Mapping[str, Any] | None = None,
        job_name: str = "", wait: bool = True, **training_options: Any,
    ) -> Tuner:
        """Start a hyperparameter tuning job and, by default, follow it to the end.

        ``ranges`` maps each hyperparameter to search to its range, written as on the command line:
        ``"continuous:0.01:10:log"`` (also ``:reverse-log``, ``:linear``; default Auto),
        ``"integer:1:20"`` (``:log``), ``"categorical:lbfgs,liblinear"``. ``objective`` names one of
        ``metric_definitions`` (``{name: regex}``, the first group captures the value); it is maximized
        unless ``minimize``. ``max_jobs`` trials in all (default 10; for Grid, the whole grid),
        ``max_parallel`` at once. ``strategy`` is Bayesian, Random, Grid or Hyperband;
        ``early_stopping`` Off or Auto; ``random_seed`` makes the search repeatable; ``warm_start``
        names parent tuning jobs (IdenticalDataAndAlgorithm). ``hyperparameters`` are static: every
        trial gets them. The other arguments are :meth:`fit`'s.

        Returns a :class:`Tuner`: ``tuner.results()`` (a DataFrame, one row per trial) and
        ``tuner.best_job``. Locally, the trials run on this machine, at most as many at once as it has
        cores; Ctrl-C stops them and leaves the tuning job Stopped with its completed trials.
        """
        spec = self.tuning_spec(entry_point, ranges=ranges, objective=objective,
                                metric_definitions=metric_definitions, minimize=minimize, max_jobs=max_jobs,
                                max_parallel=max_parallel, strategy=strategy, early_stopping=early_stopping,
                                random_seed=random_seed, warm_start=warm_start, source_dir=source_dir,
                                channels=channels, hyperparameters=hyperparameters, job_name=job_name,
                                **training_options)
        self._check_parents(spec.warm_start)
        execute(self.plan_tune(spec), self.backend, self.reporter, wait=False)
        self.reporter.info(f"tuning job {spec.name} started")
        if not wait:
            return self.tuner(spec.name)
        from smtrain.execution.tuning import follow_tuning

        final = follow_tuning(self.backend, spec.name, self.reporter)
        return Tuner(spec.name, final[TUNING.status_key], final, session=self)

    def _check_parents(self, parents: Sequence[str]) -> None:
        """Each --warm-start parent exists, asked before anything is uploaded."""
        for parent in parents:
            try:
                call(self.backend, TUNING.describe, {TUNING.name_key: parent}, where=f"tuning job {parent}")
            except NotFoundError:
                raise UsageError(f"there is no tuning job {parent!r} to warm-start from", where="--warm-start",
                                 hint="name a tuning job `smtrain ls` lists (its trials are named "
                                      "<tuning-job>-NNN-<8 hex>)") from None

    def trained_job(self, name: str) -> TrainingJob:
        """The training job ``name`` or, when ``name`` is a tuning job, its best training job
        (what deploy and register serve)."""
        try:
            return self.job(name)
        except NotFoundError as missing:
            try:
                best = best_training_job(self, name)
            except NotFoundError as exc:
                if "has no completed trial" in exc.what:
                    raise
                raise missing from None
        self.reporter.info(f"tuning job {name}: its best training job is {best}")
        return self.job(best)

    def tuner(self, name: str) -> Tuner:
        """The tuning job called ``name``."""
        from smtrain.execution.lookups import not_found

        try:
            description = call(self.backend, TUNING.describe, {TUNING.name_key: name}, where=f"tuning job {name}")
        except NotFoundError as exc:
            raise not_found(self.backend, "tuning job", name, exc) from exc
        return Tuner(name, description[TUNING.status_key], description, session=self)

    def trials(self, name: str) -> list[dict[str, Any]]:
        """Every trial's HyperParameterTrainingJobSummary (ListTrainingJobsForHyperParameterTuningJob)."""
        return list_all(self.backend, "ListTrainingJobsForHyperParameterTuningJob", "TrainingJobSummaries",
                        params={"HyperParameterTuningJobName": name})

    def tuning_results(self, name: str) -> Any:
        from smtrain.runs.tuning import results_frame

        tuner = self.tuner(name)
        return results_frame(self.trials(name), tuner.objective)


def parse_ranges(ranges: Mapping[str, Any] | Sequence[str]) -> tuple[ParameterRange, ...]:
    """``{"C": "continuous:0.01:10:log"}`` (or ``["C=continuous:..."]``, or ParameterRange values) -> ranges."""
    from smtrain.planning.tuning import ParameterRange, check_range, parse_range

    if isinstance(ranges, Mapping):
        parsed = []
        for name, value in ranges.items():
            if isinstance(value, ParameterRange):
                parsed.append(check_range(value, where=f"--range {name}"))
            elif isinstance(value, str):
                parsed.append(parse_range(f"{name}={value}", where="--range"))
            else:
                raise UsageError(f"range {name!r} must be text such as 'continuous:0.01:10:log', got {value!r}",
                                 where=f"--range {name}", hint="write 'continuous:LOW:HIGH', 'integer:LOW:HIGH' or "
                                                      "'categorical:A,B,C'")
        return tuple(parsed)
    if isinstance(ranges, str):
        ranges = [ranges]
    return tuple(parse_range(text, where="--range") for text in ranges)

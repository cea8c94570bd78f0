"""The Python API: what a notebook calls, and what the CLI is a shell over.

    import smtrain
    sm = smtrain.Session()                       # local backend unless configured otherwise
    data = sm.prepare()                          # the Palmer penguins, split and synced
    job = sm.fit("penguins.py", source_dir="entry_points",
                 channels={"train": data.train_uri}, hyperparameters=data.hyperparameters())
    endpoint = sm.deploy(job.name)
    X_test, y_test = data.test_set()
    endpoint.predict(X_test.head(10))
    sm.teardown(endpoint.name)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smtrain.api.arguments import speaks_python
from smtrain.api.endpoints import EndpointOperations
from smtrain.api.processing import ProcessingOperations
from smtrain.api.resources import Dataset, Job, TrainingJob
from smtrain.api.transform import TransformOperations
from smtrain.api.tuning import TuningOperations
from smtrain.backends.base import Backend
from smtrain.backends.selection import get_backend
from smtrain.core.config import Config, load_config
from smtrain.core.errors import NotFoundError, SmtrainError, UsageError
from smtrain.core.hints import suggest
from smtrain.core.sdk_config import SdkDefaults
from smtrain.execution.executor import (
    QuietReporter,
    Reporter,
    call,
    describe_sync,
    execute,
    list_all,
    report_notes,
)
from smtrain.execution.following import find_job, follow_job, print_log
from smtrain.execution.lookups import not_found
from smtrain.planning.kinds import TRAINING, JobKind
from smtrain.planning.plan import join_uri, plan_fit
from smtrain.planning.spec import (
    TrainingSpec,
    check_name,
    timestamped_name,
)
from smtrain.planning.steps import Plan


class Session(EndpointOperations, TuningOperations, ProcessingOperations, TransformOperations):
    """Configuration plus a backend. Keyword arguments override every other setting source.

    Settings: ``backend`` ("local" or "sagemaker"), ``region``, ``profile``, ``home``, ``role``, ``bucket``,
    ``kms_key``, ``max_runtime_seconds`` and every other ``SMTRAIN_*`` setting in lower case.
    """

    for_cli = False  # a session the CLI made names flags in its errors; every other names arguments

    def __init__(self, *, reporter: Reporter | None = None, quiet: bool = False, **settings: Any) -> None:
        self.config: Config = load_config(settings)
        self.backend: Backend = get_backend(self.config)
        self.reporter = reporter or (QuietReporter() if quiet else Reporter())
        self._sdk_defaults: SdkDefaults | None = None

    # -- data ---------------------------------------------------------------
    @speaks_python
    def prepare(self, source: Any = None, *, out_dir: str | Path = "data/penguins", name: str = "penguins",
                progress: bool = True, **options: Any) -> Dataset:
        """Clean and split the data, write train/test CSVs, sync them to the store or S3."""
        from smtrain.planning.validation import check_segment
        from smtrain.project.data import prepare

        check_segment(name, what="dataset name", where="--name")
        prepared = prepare(source, out_dir=Path(out_dir), **options)
        root = join_uri(self.backend.artifact_root(), "data", name)
        uris = []
        for split, directory in (("train", prepared.train_dir), ("test", prepared.test_dir)):
            uri = join_uri(root, split) + "/"
            report = self.backend.sync(Path(directory), uri, progress=progress)
            self.reporter.info(f"{split}: {directory} -> {uri} ({describe_sync(report)})")
            uris.append(uri)
        return Dataset(prepared, uris[0], uris[1])

    # -- training -------------------------------------------------------------
    def training_spec(self, entry_point: str, *, source_dir: str | Path = ".", channels: dict[str, str],
                      hyperparameters: dict[str, Any] | None = None, job_name: str = "", **options: Any
                      ) -> TrainingSpec:
        from smtrain.planning.limits import check_entry_point_inside, check_training

        check_training(entry_point, channels or {}, hyperparameters or {}, job_name, options)
        source = Path(source_dir)
        if not source.is_dir():
            raise UsageError(f"source dir {str(source)!r} does not exist", where="--source-dir",
                             hint="give the folder that holds your entry point")
        if not (source / entry_point).is_file():
            from smtrain.core.spelling import entry_point_hint

            raise UsageError(f"entry point {entry_point!r} not found in {str(source)!r}", where="--entry-point",
                             hint=entry_point_hint(source, entry_point))
        check_entry_point_inside(source, entry_point)
        for channel, value in channels.items():
            if "://" not in value and not Path(value).exists():
                raise UsageError(f"path {value!r} does not exist", where=f"--channel {channel}",
                                 hint=f"run `{suggest(self.config, 'prepare')}` first, "
                                      "or give an existing folder or URI")
        name = check_name(job_name, "job name") if job_name else timestamped_name(Path(entry_point).stem)
        options["tags"] = run_tags(source, options.get("tags") or {})
        return TrainingSpec(entry_point=entry_point, source_dir=source, channels=dict(channels),
                            hyperparameters=dict(hyperparameters or {}), job_name=name, **options)

    def plan_fit(self, spec: TrainingSpec, *, root: str = "") -> Plan:
        """The requests `fit` sends; ``root`` overrides where artifacts go (for offline planning)."""
        image = spec.image_uri or self.backend.image_uri(spec.framework_version or self.config.framework_version)
        return plan_fit(spec, self.planning_config(), root=root or self.backend.artifact_root(),
                        image_uri=image, role=self.backend.role(), sdk=self.sdk_defaults(),
                        explicit=self.explicit_fields())

    def sdk_defaults(self) -> SdkDefaults:
        """The SageMaker SDK's config.yaml defaults, applied to every request (read once)."""
        loader = getattr(self.backend, "sdk_defaults", None)
        if loader is not None:
            return loader()
        if getattr(self, "_sdk_defaults", None) is None:  # sessions built around a given backend skip __init__
            from smtrain.core.sdk_config import load_sdk_defaults

            self._sdk_defaults = load_sdk_defaults()
        assert self._sdk_defaults is not None
        return self._sdk_defaults

    def explicit_fields(self) -> frozenset[str]:
        """Request keys set by a flag or an smtrain setting, which config.yaml never replaces: the role,
        when SMTRAIN_ROLE (or --role) names it, or on the local backend, which has its own."""
        return frozenset({"RoleArn", "ExecutionRoleArn"}) if self.config.role or self.config.is_local else frozenset()

    def planning_config(self) -> Config:
        """The configuration with the region the backend will really use."""
        return self.backend.resolved_config()

    @speaks_python
    def fit(
        self,
        entry_point: str,
        *,
        source_dir: str | Path = ".",
        channels: Mapping[str, str] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        job_name: str = "",
        max_runtime_seconds: int | None = None,
        metric_definitions: Mapping[str, str] | None = None,
        environment: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        instance_type: str = "",
        instance_count: int | None = None,
        image_uri: str = "",
        framework_version: str = "",
        spot: bool = False,
        max_wait_seconds: int | None = None,
        checkpoint_uri: str = "",
        volume_kms_key: str = "",
        output_kms_key: str = "",
        subnets: Sequence[str] = (),
        security_groups: Sequence[str] = (),
        network_isolation: bool = False,
        keep_alive_seconds: int | None = None,
        sharded: str | Sequence[str] = (),
        wait: bool = True,
        logs: bool = True,
    ) -> TrainingJob:
        """Start a training job and, by default, follow it to the end (``smtrain fit``).

        Args:
            entry_point: the training script, relative to ``source_dir``.
            source_dir: the folder packed as the job's code (honours .gitignore and .smtrainignore; never .env).
            channels: input channels, name -> local folder or ``s3://`` URI.
            hyperparameters: values passed to the script as ``--key value`` (JSON-encoded as the SDK does).
            job_name: the job's name (default ``<entry point>-<timestamp>``); never reused.
            max_runtime_seconds: stop the job after this long (default: SMTRAIN_MAX_RUNTIME_SECONDS, else 86400).
            metric_definitions: metric name -> regex whose first group is read from the log.
            environment: environment variables for the script.
            tags: tags for the run, also sent as SageMaker tags.
            instance_type, instance_count: SageMaker's instances (locally, one process per instance).
            image_uri: a custom ECR training image (sagemaker backend).
            framework_version: the scikit-learn image version; locally ``"current"`` runs your environment.
            spot, max_wait_seconds, checkpoint_uri: managed spot training (sagemaker backend).
            volume_kms_key, output_kms_key: KMS keys for the training volume and the output.
            subnets, security_groups: the job's VPC.
            network_isolation: no network access for the job.
            keep_alive_seconds: keep the instances as a SageMaker warm pool this long after the job (<= 3600).
            sharded: channels whose files are split across the instances (``ShardedByS3Key``; locally too).
            wait: follow the job to its end (else return once it started).
            logs: print the job's log while following it.

        Bad input raises :class:`smtrain.core.errors.ArgumentError` naming the argument at fault.
        The KMS key for uploads, the role, bucket and region are the session's settings (``Session(kms_key=...)``).
        """
        spec = self.training_spec(
            entry_point, source_dir=source_dir, channels=dict(channels or {}),
            hyperparameters=dict(hyperparameters or {}), job_name=job_name, max_runtime_seconds=max_runtime_seconds,
            metric_definitions=dict(metric_definitions or {}), environment=dict(environment or {}),
            tags=dict(tags or {}), instance_type=instance_type, instance_count=instance_count, image_uri=image_uri,
            framework_version=framework_version, spot=spot, max_wait_seconds=max_wait_seconds,
            checkpoint_uri=checkpoint_uri, volume_kms_key=volume_kms_key, output_kms_key=output_kms_key,
            subnets=tuple(subnets), security_groups=tuple(security_groups), network_isolation=network_isolation,
            keep_alive_seconds=keep_alive_seconds,
            sharded=(sharded,) if isinstance(sharded, str) else tuple(sharded))
        if spec.keep_alive_seconds and self.config.is_local:
            self.reporter.info("note: --keep-alive has no effect on the local backend (a local job starts at once); "
                               "it keeps a SageMaker warm pool on the sagemaker backend")
        plan = self.plan_fit(spec)
        report_notes(plan, self.reporter)
        execute(plan, self.backend, self.reporter, wait=False)
        self.reporter.info(f"training job {spec.job_name} started")
        if not wait:
            return self.job(spec.job_name)
        final = follow_job(self.backend, TRAINING, spec.job_name, self.reporter, logs=logs, source_dir=spec.source_dir)
        from smtrain.runs.mlflow_log import log_finished_run

        log_finished_run(self.config, spec.job_name, self.reporter.info)  # only if MLFLOW_TRACKING_URI is set
        return TrainingJob(spec.job_name, final["TrainingJobStatus"], final, session=self)

    @speaks_python
    def job(self, name: str) -> TrainingJob:
        try:
            description = call(self.backend, "DescribeTrainingJob", {"TrainingJobName": name},
                               where=f"training job {name}")
        except NotFoundError as exc:
            raise not_found(self.backend, "training job", name, exc) from exc
        return TrainingJob(name, description["TrainingJobStatus"], description, session=self)

    @speaks_python
    def find_job(self, name: str) -> TrainingJob | Job:
        """The job called ``name``, of whichever kind it is."""
        try:
            kind, description = find_job(self.backend, name)
        except NotFoundError as exc:
            raise not_found(self.backend, "job", name, exc) from exc
        return self._job_of(kind, name, description)

    def _job_of(self, kind: JobKind, name: str, description: dict[str, Any]) -> TrainingJob | Job:
        if kind is TRAINING:
            return TrainingJob(name, description[kind.status_key], description, session=self)
        return Job(name, kind, description[kind.status_key], description)

    @speaks_python
    def logs(self, name: str, *, follow: bool = True) -> TrainingJob | Job:
        """Print the job's log (a job of any kind); with ``follow``, until the job ends."""
        job = self.find_job(name)
        kind = job.kind if isinstance(job, Job) else TRAINING
        source_dir = self._source_dir(name)
        if follow:
            final = follow_job(self.backend, kind, name, self.reporter, source_dir=source_dir)
            return self._job_of(kind, name, final)
        print_log(self.backend, kind, name, self.reporter, source_dir=source_dir)
        return job

    def _source_dir(self, name: str) -> Path | None:
        """The folder the job's code was submitted from, as recorded with the run (None if not known)."""
        from smtrain.runs import provenance, store

        try:
            run = store.get_run(self.config, name, source=self.backend.name)
        except SmtrainError:  # a job smtrain did not submit: its log is shown as it is
            return None
        return provenance.source_dir_from(run.tags)

    @speaks_python
    def stop(self, name: str) -> TrainingJob | Job:
        """Stop a job of any kind; its description once the stop was asked for."""
        job = self.find_job(name)
        kind = job.kind if isinstance(job, Job) else TRAINING
        call(self.backend, kind.stop, {kind.name_key: name}, where=f"{kind.noun} {name}")
        _, description = find_job(self.backend, name, (kind,))
        return self._job_of(kind, name, description)

    # -- registry -------------------------------------------------------------
    def plan_register(self, job_name: str, *, group: str, approve: bool = False, image_uri: str = "",
                      evaluation: str = "") -> Plan:
        from smtrain.planning.model_package import group_exists, plan_register

        job = self.trained_job(job_name)
        if job.status != "Completed":
            raise UsageError(f"training job {job.name} is {job.status}", where="register",
                             hint=f"register a job whose status is Completed (`{suggest(self.config, 'ls')}`)")
        check_name(group, "model package group")
        return plan_register(job.description, group=group, approve=approve,
                             image_uri=image_uri or self.serving_image(job.description),
                             region=self.planning_config().resolved_region(),
                             create_group=not group_exists(self.backend.sagemaker(), group),
                             model_metrics=self.evaluation_metrics(evaluation) if evaluation else None)

    @speaks_python
    def evaluation_metrics(self, evaluation_job: str) -> dict[str, Any]:
        """ModelMetrics naming the evaluation.json that ``evaluation_job`` (a processing job) wrote."""
        from smtrain.planning.evaluation import model_metrics

        uri, _ = self.evaluation_report(evaluation_job, where=f"register --evaluation {evaluation_job}")
        return model_metrics(uri)

    def evaluation(self, evaluation_job: str) -> dict[str, float]:
        """The metrics an evaluation job (``smtrain evaluate``) wrote to its evaluation.json."""
        return self.evaluation_report(evaluation_job, where=f"evaluation job {evaluation_job}")[1]

    def evaluation_report(self, evaluation_job: str, *, where: str) -> tuple[str, dict[str, float]]:
        from smtrain.api.evaluation import job_report

        return job_report(self.backend, evaluation_job, where=where)

    @speaks_python
    def register(self, job_name: str, *, group: str, approve: bool = False, image_uri: str = "",
                 evaluation: str = "") -> dict[str, Any]:
        """Add the job's model to the model registry (``smtrain register``); returns DescribeModelPackage.

        Args:
            job_name: a Completed training job.
            group: the model package group (made when it does not exist yet).
            approve: register the version Approved (default: PendingManualApproval).
            image_uri: serve the model on this image (default: the job's own training image).
            evaluation: a Completed evaluation job (``smtrain evaluate``) whose evaluation.json the
                package carries as ModelMetrics.ModelQuality.Statistics.
        """
        plan = self.plan_register(job_name, group=group, approve=approve, image_uri=image_uri,
                                  evaluation=evaluation)
        results = execute(plan, self.backend, self.reporter)
        return results["model-package-ready"]

    # -- listing --------------------------------------------------------------
    def list_jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        summaries = call(self.backend, "ListTrainingJobs",
                         {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": limit})
        return [self.job(s["TrainingJobName"]).description for s in summaries.get("TrainingJobSummaries", [])]

    def runs(self, *, backend: str = "", status: tuple[str, ...] | str = (), tags: tuple[str, ...] | str = (),
             where: tuple[str, ...] | str = (), sort: str = "", limit: int | None = None) -> Any:
        """Runs as a DataFrame, one row per run, like ``mlflow.search_runs``: ``params.*``, ``metrics.*``, ``tags.*``.

        ``where="accuracy>0.9"`` filters on a metric; ``sort="accuracy"`` orders by one (highest first).
        """
        from smtrain.runs import frames, query, store

        runs, _ = store.list_runs(self.config, backend or store.default_source(self.config),
                                  statuses=query.strings(status))
        runs = query.sort(query.select(runs, tags=query.strings(tags), where=query.strings(where)), sort)
        return frames.runs_frame(runs[:limit] if limit else runs)

    def metric_history(self, job_name: str) -> Any:
        """Every value of every metric the job logged, in order, as a DataFrame."""
        from smtrain.runs import frames, store

        run = store.get_run(self.config, job_name)
        return frames.history_frame(store.metric_history(self.config, run))

    def list_endpoints(self, limit: int = 0) -> list[dict[str, Any]]:
        """Every endpoint, newest first, page after page (only the newest ``limit`` when given)."""
        return list_all(self.backend, "ListEndpoints", "Endpoints", limit=limit,
                        params={"SortBy": "CreationTime", "SortOrder": "Descending"})


def run_tags(source_dir: Path, user_tags: dict[str, str]) -> dict[str, str]:
    """The user's tags, checked, plus smtrain's record of the run (git commit, versions)."""
    from smtrain.runs import provenance

    return {**provenance.check_user_tags(user_tags), **provenance.run_tags(source_dir)}

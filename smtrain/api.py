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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smtrain.backends.base import Backend, get_backend
from smtrain.config import Config, load_config
from smtrain.errors import JobFailedError, NotFoundError, SmtrainError, UsageError
from smtrain.hints import suggest
from smtrain.plan import ApiCall, Plan, Upload, join_uri, plan_deploy, plan_fit, plan_teardown
from smtrain.spec import (
    DeploySpec,
    TrainingSpec,
    check_name,
    decode_hyperparameters,
    new_submission_id,
    timestamped_name,
)
from smtrain.suggest import not_found
from smtrain.workflow import (
    QuietReporter,
    Reporter,
    call,
    config_models,
    delete_quietly,
    describe_sync,
    endpoint_resources,
    execute,
    follow_training,
)


@dataclass(frozen=True)
class Dataset:
    """Prepared data: local directories, the URIs they were synced to, training hyperparameters."""

    prepared: Any
    train_uri: str
    test_uri: str

    def hyperparameters(self) -> dict[str, Any]:
        return dict(self.prepared.hyperparameters())

    def test_set(self) -> tuple[Any, Any]:
        """The held-out ``(X_test, y_test)`` as a DataFrame and a Series."""
        from smtrain.data import load_test

        return load_test(self.prepared.test_dir)


@dataclass(frozen=True)
class TrainingJob:
    name: str
    status: str
    description: dict[str, Any]

    @property
    def model_data(self) -> str:
        return str(self.description.get("ModelArtifacts", {}).get("S3ModelArtifacts", ""))

    @property
    def failure_reason(self) -> str:
        return str(self.description.get("FailureReason", ""))

    # -- runs (issue 9): what a notebook asks of a job ------------------------------
    session: Session | None = field(default=None, repr=False, compare=False)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The user's hyperparameters, decoded as the training script receives them."""
        return {k: v for k, v in sorted(decode_hyperparameters(self.description.get("HyperParameters", {})).items())
                if not k.startswith("sagemaker_")}

    @property
    def metrics(self) -> Any:
        """Every metric value over time: a DataFrame with columns metric, step, value, timestamp."""
        return self._session().metric_history(self.name)

    def deploy(self, **options: Any) -> Endpoint:
        """Serve this job's model (see :meth:`Session.deploy`)."""
        return self._session().deploy(self.name, **options)

    def logs(self, *, follow: bool = False) -> TrainingJob:
        """Print this job's log (see :meth:`Session.logs`)."""
        return self._session().logs(self.name, follow=follow)

    def _session(self) -> Session:
        if self.session is None:
            raise UsageError(f"training job {self.name} is not attached to a session", where="TrainingJob",
                             hint="get jobs from a Session: sm.job(name) or sm.fit(...)")
        return self.session


@dataclass(frozen=True)
class Endpoint:
    name: str
    status: str
    url: str
    session: Session

    def predict(self, data: Any, *, content_type: str = "text/csv", accept: str = "application/json") -> Any:
        return self.session.predict(self.name, data, content_type=content_type, accept=accept)


class Session:
    """Configuration plus a backend. Keyword arguments override every other setting source."""

    def __init__(self, *, reporter: Reporter | None = None, quiet: bool = False, **settings: Any) -> None:
        self.config: Config = load_config(settings)
        self.backend: Backend = get_backend(self.config)
        self.reporter = reporter or (QuietReporter() if quiet else Reporter())

    # -- data ---------------------------------------------------------------
    def prepare(self, source: Any = None, *, out_dir: str | Path = "data/penguins", name: str = "penguins",
                progress: bool = True, **options: Any) -> Dataset:
        """Clean and split the data, write train/test CSVs, sync them to the store or S3."""
        from smtrain.data import prepare
        from smtrain.validation import check_segment

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
        from smtrain.submit_checks import check_entry_point_inside, check_training

        check_training(entry_point, channels or {}, hyperparameters or {}, job_name, options)
        source = Path(source_dir)
        if not source.is_dir():
            raise UsageError(f"source dir {str(source)!r} does not exist", where="--source-dir",
                             hint="give the folder that holds your entry point")
        if not (source / entry_point).is_file():
            from smtrain.suggest import entry_point_hint

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
                        image_uri=image, role=self.backend.role())

    def planning_config(self) -> Config:
        """The configuration with the region the backend will really use."""
        resolved = getattr(self.backend, "resolved_config", None)
        return resolved() if resolved else self.config

    def fit(self, entry_point: str, *, wait: bool = True, logs: bool = True, **options: Any) -> TrainingJob:
        """Start a training job and, by default, follow it to the end."""
        spec = self.training_spec(entry_point, **options)
        plan = self.plan_fit(spec)
        execute(plan, self.backend, self.reporter, wait=False)
        self.reporter.info(f"training job {spec.job_name} started")
        if not wait:
            return self.job(spec.job_name)
        final = follow_training(self.backend, spec.job_name, self.reporter, logs=logs, source_dir=spec.source_dir)
        from smtrain.runs.mlflow_log import log_finished_run

        log_finished_run(self.config, spec.job_name, self.reporter.info)  # only if MLFLOW_TRACKING_URI is set
        return TrainingJob(spec.job_name, final["TrainingJobStatus"], final, session=self)

    def job(self, name: str) -> TrainingJob:
        try:
            description = call(self.backend, "DescribeTrainingJob", {"TrainingJobName": name},
                               where=f"training job {name}")
        except NotFoundError as exc:
            raise not_found(self.backend, "training job", name, exc) from exc
        return TrainingJob(name, description["TrainingJobStatus"], description, session=self)

    def logs(self, name: str, *, follow: bool = True) -> TrainingJob:
        """Print the job's log; with ``follow``, until the job ends."""
        job = self.job(name)
        source_dir = self._source_dir(name)
        if follow:
            final = follow_training(self.backend, name, self.reporter, source_dir=source_dir)
            return TrainingJob(name, final["TrainingJobStatus"], final, session=self)
        from smtrain.workflow import code_prefixes, path_mapper

        to_user_paths = path_mapper(code_prefixes(self.backend, name), source_dir)
        for line in self.backend.job_log(name, follow=False, is_done=lambda: True):
            self.reporter.log_line(to_user_paths(line))
        return job

    def _source_dir(self, name: str) -> Path | None:
        """The folder the job's code was submitted from, as recorded with the run (None if not known)."""
        from smtrain.runs import provenance, store

        try:
            run = store.get_run(self.config, name, source=self.backend.name)
        except SmtrainError:  # a job smtrain did not submit: its log is shown as it is
            return None
        return provenance.source_dir_from(run.tags)

    def stop(self, name: str) -> TrainingJob:
        try:
            call(self.backend, "StopTrainingJob", {"TrainingJobName": name}, where=f"training job {name}")
        except NotFoundError as exc:
            raise not_found(self.backend, "training job", name, exc) from exc
        return self.job(name)

    # -- serving --------------------------------------------------------------
    def plan_deploy(self, job_name: str, *, endpoint_name: str = "", entry_point: str = "",
                    source_dir: str | Path | None = None, image_uri: str = "", **options: Any
                    ) -> tuple[DeploySpec, Plan, Any]:
        """The spec, the requests `deploy` sends, and the endpoint's current resources (None if new).

        The model is served on the job's own image (see :meth:`serving_image`) unless ``image_uri`` is given.
        """
        from smtrain.models import is_model_version
        from smtrain.submit_checks import check_deploy

        check_deploy(endpoint_name or ("" if is_model_version(job_name) else job_name), entry_point, options)
        served = self._served(job_name)
        if not endpoint_name:
            check_deploy(served.endpoint_name, "", {})
        spec = DeploySpec(job_name=job_name,
                          endpoint_name=check_name(endpoint_name or served.endpoint_name, "endpoint name"),
                          entry_point=entry_point, source_dir=Path(source_dir) if source_dir else None, **options)
        program = entry_point or served.program
        submit_directory = served.submit_directory
        steps: list[Any] = []
        if spec.source_dir is not None and program:
            from smtrain.submit_checks import check_entry_point_inside

            check_entry_point_inside(spec.source_dir, program)
        if spec.source_dir is not None:
            submit_directory = join_uri(self.backend.artifact_root(), spec.endpoint_name, "source",
                                        new_submission_id(), "sourcedir.tar.gz")  # never over a live endpoint's
            steps.append(Upload("upload-source", "source", str(spec.source_dir), submit_directory, program))
        existing = self._existing_endpoint(spec.endpoint_name)
        suffix = timestamped_name("v")[2:] if existing else ""
        image = image_uri or served.image
        steps += plan_deploy(spec, self.planning_config(), image_uri=image,
                             role=self.backend.role(), model_data=served.model_data, program=program,
                             submit_directory=submit_directory, update=existing is not None, suffix=suffix,
                             tags=ttl_tags(spec.ttl_seconds))
        return spec, tuple(steps), existing

    def _served(self, reference: str) -> Any:
        """What a deploy serves: a completed job's model on its own image, or a registered model version."""
        from smtrain.models import ServedVersion, is_model_version, served_version

        if is_model_version(reference):
            return served_version(self.backend, reference)
        job = self.job(reference)
        if job.status != "Completed":
            raise UsageError(f"training job {reference} is {job.status}", where="deploy",
                             hint=f"deploy a job whose status is Completed (`{suggest(self.config, 'ls')}`)")
        hps = decode_hyperparameters(job.description.get("HyperParameters", {}))
        return ServedVersion(arn=job.description.get("TrainingJobArn", ""), endpoint_name=reference,
                             image=self.serving_image(job.description), model_data=job.model_data,
                             program=str(hps.get("sagemaker_program", "")),
                             submit_directory=str(hps.get("sagemaker_submit_directory", "")))

    def serving_image(self, job_description: dict[str, Any]) -> str:
        """The image a job's model is served on: the job's own ``TrainingImage`` (for the
        scikit-learn image, the inference image of the same framework version)."""
        training_image = str(job_description.get("AlgorithmSpecification", {}).get("TrainingImage", ""))
        if not training_image:  # a job run from an algorithm resource names no image
            return self.backend.image_uri(self.config.framework_version)
        from smtrain.images import serving_image_uri

        return serving_image_uri(training_image, self.planning_config().resolved_region())

    def deploy(self, job_name: str, *, wait: bool = True, **options: Any) -> Endpoint:
        """Create (or update) an endpoint serving the job's model."""
        spec, plan, existing = self.plan_deploy(job_name, **options)
        try:
            results = execute(plan, self.backend, self.reporter, wait=wait)
        except SmtrainError:
            if existing is not None:
                self._discard_new_version(spec.endpoint_name, plan)
            raise
        except KeyboardInterrupt:
            self._roll_back_deploy(spec.endpoint_name, plan, new_endpoint=existing is None)
            raise
        ready = results.get("endpoint-ready", {})
        status = ready.get("EndpointStatus", "Creating")
        if status in ("Failed", "UpdateRollbackFailed"):
            reason = results["endpoint-ready"].get("FailureReason", "")
            raise JobFailedError(f"endpoint {spec.endpoint_name} failed to start: {reason}", where="deploy",
                                 hint=f"see the server log; remove it with "
                                      f"`{suggest(self.config, 'teardown', spec.endpoint_name)}`")
        if existing is not None and ready and ready.get("EndpointConfigName") != new_version(plan)[0]:
            # A failed update rolls back: the endpoint is InService on its previous config, which must stay.
            self._discard_new_version(spec.endpoint_name, plan)
            raise JobFailedError(f"the update of endpoint {spec.endpoint_name} failed and was rolled back: "
                                 f"{ready.get('FailureReason', 'no reason given')}", where="deploy",
                                 hint="it still serves the previous model; fix the cause and deploy again")
        if existing is not None:
            self._remove_old_version(*existing)
        return Endpoint(spec.endpoint_name, status, self.backend.runtime_url(), self)

    def _existing_endpoint(self, name: str) -> tuple[str, list[str]] | None:
        from smtrain.errors import NotFoundError

        try:
            return endpoint_resources(self.backend, name)
        except NotFoundError:
            return None

    def _roll_back_deploy(self, endpoint_name: str, plan: Plan, *, new_endpoint: bool) -> None:
        """Ctrl-C during deploy: remove what it created, or say plainly what is left and how to remove it.
        An update already sent cannot be called back (SageMaker finishes it), so it is left to finish."""
        config_name, models = new_version(plan)
        self.reporter.info(f"interrupted: rolling back the deploy of endpoint {endpoint_name} ...")
        removals: list[tuple[str, dict[str, Any]]] = [("DeleteEndpoint", {"EndpointName": endpoint_name})]
        if not new_endpoint:
            removals = []
            if self._update_sent(endpoint_name, config_name):
                self.reporter.info(f"endpoint {endpoint_name} is already updating to {config_name} and will finish; "
                                   f"remove it with: smtrain teardown {endpoint_name}")
                return
        removals += [("DeleteEndpointConfig", {"EndpointConfigName": config_name}),
                     *(("DeleteModel", {"ModelName": model}) for model in models)]
        left = []
        for operation, params in removals:
            what = f"{operation.removeprefix('Delete')} {next(iter(params.values()))}"
            try:
                if delete_quietly(self.backend, operation, params):
                    self.reporter.info(f"removed {what}")
            except (SmtrainError, KeyboardInterrupt) as exc:
                left.append(f"{what} ({exc or 'interrupted'})")
        if left:
            self.reporter.info(f"still there: {'; '.join(left)}. Remove it with: smtrain teardown {endpoint_name}")

    def _update_sent(self, endpoint_name: str, config_name: str) -> bool:
        try:
            current = call(self.backend, "DescribeEndpoint", {"EndpointName": endpoint_name})
        except SmtrainError:
            return False
        return current.get("EndpointStatus") == "Updating" or current.get("EndpointConfigName") == config_name

    def _discard_new_version(self, endpoint_name: str, plan: Plan) -> None:
        """After a failed update: remove the model and config it created, unless the endpoint uses them."""
        config_name, models = new_version(plan)
        try:
            current = call(self.backend, "DescribeEndpoint", {"EndpointName": endpoint_name})
        except SmtrainError:
            return
        settled = current.get("EndpointStatus") in ("InService", "OutOfService", "Failed")
        if settled and current.get("EndpointConfigName") != config_name:
            self._remove_old_version(config_name, models)

    def _remove_old_version(self, config_name: str, models: list[str]) -> None:
        delete_quietly(self.backend, "DeleteEndpointConfig", {"EndpointConfigName": config_name})
        for model in models:
            delete_quietly(self.backend, "DeleteModel", {"ModelName": model})

    def endpoint(self, name: str) -> Endpoint:
        description = call(self.backend, "DescribeEndpoint", {"EndpointName": name}, where=f"endpoint {name}")
        return Endpoint(name, description["EndpointStatus"], self.backend.runtime_url(), self)

    def predict(self, endpoint_name: str, data: Any, *, content_type: str = "text/csv",
                accept: str = "application/json") -> Any:
        """Send ``data`` (bytes, str, a DataFrame or rows) and decode the answer when it is JSON."""
        from smtrain.payloads import decode_body, encode_body

        body = encode_body(data, content_type)
        response = invoke(self.backend, endpoint_name, body, content_type, accept)
        return decode_body(response["Body"].read(), str(response.get("ContentType", accept)))

    def teardown(self, endpoint_name: str) -> list[str]:
        """Remove the endpoint, its config and its models; returns what was removed."""
        from smtrain.errors import NotFoundError

        try:
            config_name, models = endpoint_resources(self.backend, endpoint_name)
        except NotFoundError:
            config_name, models = endpoint_name, config_models(self.backend, endpoint_name)
        removed = []
        for step in plan_teardown(endpoint_name, config_name, models):
            if delete_quietly(self.backend, step.operation, step.params):  # type: ignore[union-attr]
                removed.append(f"{step.operation.removeprefix('Delete')} {next(iter(step.params.values()))}")  # type: ignore[union-attr]
        return removed

    # -- registry -------------------------------------------------------------
    def plan_register(self, job_name: str, *, group: str, approve: bool = False, image_uri: str = "") -> Plan:
        from smtrain.registry import group_exists, plan_register

        job = self.job(job_name)
        if job.status != "Completed":
            raise UsageError(f"training job {job_name} is {job.status}", where="register",
                             hint=f"register a job whose status is Completed (`{suggest(self.config, 'ls')}`)")
        check_name(group, "model package group")
        return plan_register(job.description, group=group, approve=approve,
                             image_uri=image_uri or self.serving_image(job.description),
                             region=self.planning_config().resolved_region(),
                             create_group=not group_exists(self.backend.sagemaker(), group))

    def register(self, job_name: str, *, group: str, approve: bool = False, image_uri: str = "") -> dict[str, Any]:
        """Add the job's model to the model registry; returns DescribeModelPackage."""
        plan = self.plan_register(job_name, group=group, approve=approve, image_uri=image_uri)
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


def list_all(backend: Backend, operation: str, key: str, *, params: dict[str, Any] | None = None,
             limit: int = 0) -> list[dict[str, Any]]:
    """The ``key`` items of every page of a SageMaker ``List*`` call (at most ``limit`` when given)."""
    from smtrain.aws import iterate_pages
    from smtrain.plan import snake_case
    from smtrain.workflow import translate

    request = {**(params or {}), "MaxResults": min(limit, 100) if limit else 100}
    items: list[dict[str, Any]] = []
    try:
        for page in iterate_pages(backend.sagemaker(), snake_case(operation), request):
            items += page.get(key, [])
            if limit and len(items) >= limit:
                return items[:limit]
    except Exception as exc:
        raise translate(exc, where=operation, backend=backend.name) from exc
    return items


def run_tags(source_dir: Path, user_tags: dict[str, str]) -> dict[str, str]:
    """The user's tags, checked, plus smtrain's record of the run (git commit, versions)."""
    from smtrain.runs import provenance

    return {**provenance.check_user_tags(user_tags), **provenance.run_tags(source_dir)}


def invoke(backend: Backend, endpoint_name: str, body: bytes, content_type: str, accept: str) -> dict[str, Any]:
    from smtrain.workflow import translate

    try:
        return dict(backend.runtime().invoke_endpoint(
            EndpointName=endpoint_name, Body=body, ContentType=content_type, Accept=accept))
    except ConnectionError as exc:
        # Nothing listens at the local runtime address: say whether the endpoint exists at all.
        try:
            call(backend, "DescribeEndpoint", {"EndpointName": endpoint_name}, where=f"endpoint {endpoint_name}")
        except NotFoundError as missing:
            raise not_found(backend, "endpoint", endpoint_name, missing) from exc
        from smtrain.errors import EndpointError

        raise EndpointError(f"the runtime at {backend.runtime_url()} is not answering",
                            where=f"endpoint {endpoint_name}",
                            hint=f"redeploy it (`{suggest(backend.config, 'teardown', endpoint_name)}`, "
                                 f"then `{suggest(backend.config, 'deploy', 'JOB', '--endpoint-name', endpoint_name)}`)"
                            ) from exc
    except Exception as exc:
        error = (translate_invoke(exc, endpoint_name, listing=suggest(backend.config, "ls"))
                 or translate(exc, where=f"endpoint {endpoint_name}", backend=backend.name))
        if isinstance(error, NotFoundError):
            error = not_found(backend, "endpoint", endpoint_name, error)
        raise error from exc


def translate_invoke(exc: Exception, endpoint_name: str, *, listing: str = "smtrain ls") -> Exception | None:
    from botocore.exceptions import ClientError

    from smtrain.errors import EndpointError, NotFoundError

    if not isinstance(exc, ClientError):
        return None
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", "")
    where = f"endpoint {endpoint_name}"
    if code == "ModelError":
        status = exc.response.get("OriginalStatusCode", "")
        original = exc.response.get("OriginalMessage", message)
        return EndpointError(f"the model answered {status}: {original}", where=where,
                             hint="check --content-type/--accept and the payload")
    if code == "ValidationError" and "not found" in message.lower():
        return NotFoundError(message, where=where, hint=f"`{listing}` lists endpoints")
    return None


def new_version(plan: Plan) -> tuple[str, list[str]]:
    """The endpoint config and model names a deploy plan creates."""
    calls = {step.step: step.params for step in plan if isinstance(step, ApiCall)}
    return str(calls["endpoint-config"]["EndpointConfigName"]), [str(calls["model"]["ModelName"])]


def ttl_tags(ttl_seconds: int | None) -> list[dict[str, str]]:
    if not ttl_seconds:
        return []
    import datetime as dt

    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl_seconds)
    return [{"Key": "smtrain:expires-at", "Value": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}]

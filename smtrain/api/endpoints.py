"""Endpoints in the Python API: deploy (and its rollback on Ctrl-C), predict, teardown.

:class:`EndpointOperations` is mixed into :class:`smtrain.api.session.Session`, which
provides the configuration, the backend, the reporter and the training jobs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtrain.api.arguments import speaks_python
from smtrain.api.resources import Endpoint, TrainingJob
from smtrain.backends.base import Backend
from smtrain.core.config import Config
from smtrain.core.errors import JobFailedError, NotFoundError, SmtrainError, UsageError
from smtrain.core.hints import suggest
from smtrain.execution.executor import (
    Reporter,
    call,
    config_models,
    delete_quietly,
    endpoint_resources,
    execute,
    report_notes,
)
from smtrain.execution.lookups import not_found
from smtrain.planning.plan import join_uri, plan_deploy, plan_teardown
from smtrain.planning.spec import DeploySpec, check_name, decode_hyperparameters, new_submission_id, timestamped_name
from smtrain.planning.steps import ApiCall, Plan, Upload

if TYPE_CHECKING:
    from smtrain.core.sdk_config import SdkDefaults


class EndpointOperations:
    """Mixed into ``Session``, which provides ``config``, ``backend``, ``reporter``, ``job`` and ``planning_config``."""

    config: Config
    backend: Backend
    reporter: Reporter

    if TYPE_CHECKING:
        def job(self, name: str) -> TrainingJob: ...

        def trained_job(self, name: str) -> TrainingJob: ...

        def planning_config(self) -> Config: ...

        def sdk_defaults(self) -> SdkDefaults: ...

        def explicit_fields(self) -> frozenset[str]: ...

    def plan_deploy(self, job_name: str, *, endpoint_name: str = "", entry_point: str = "",
                    source_dir: str | Path | None = None, image_uri: str = "", **options: Any
                    ) -> tuple[DeploySpec, Plan, Any]:
        """The spec, the requests `deploy` sends, and the endpoint's current resources (None if new).

        The model is served on the job's own image (see :meth:`serving_image`) unless ``image_uri`` is given.
        """
        from smtrain.api.models import is_model_version
        from smtrain.planning.limits import check_deploy

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
            from smtrain.planning.limits import check_entry_point_inside

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
                             tags=ttl_tags(spec.ttl_seconds), sdk=self.sdk_defaults(),
                             explicit=self.explicit_fields())
        return spec, tuple(steps), existing

    def _served(self, reference: str) -> Any:
        """What a deploy serves: a completed job's model on its own image, or a registered model version."""
        from smtrain.api.models import ServedVersion, is_model_version, served_version

        if is_model_version(reference):
            served = served_version(self.backend, reference)
            if served.approval == "PendingManualApproval":
                self.reporter.info(f"warning: model version {reference} is PendingManualApproval (not approved); "
                                   f"deploying it anyway. `smtrain approve {reference}` approves it")
            return served
        job = self.trained_job(reference)
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
        from smtrain.aws.images import serving_image_uri

        return serving_image_uri(training_image, self.planning_config().resolved_region())

    @speaks_python
    def deploy(
        self,
        job_name: str,
        *,
        endpoint_name: str = "",
        entry_point: str = "",
        source_dir: str | Path | None = None,
        instance_type: str = "",
        instance_count: int = 1,
        serverless_memory_mb: int = 0,
        serverless_max_concurrency: int = 0,
        ttl_seconds: int | None = None,
        workers: int | None = None,
        image_uri: str = "",
        wait: bool = True,
    ) -> Endpoint:
        """Create (or update) an endpoint serving a model (``smtrain deploy``).

        Args:
            job_name: a Completed training job, or a registered model version ``GROUP/VERSION`` or its ARN.
            endpoint_name: the endpoint (default: the job's name); an existing one is updated in place.
            entry_point, source_dir: the inference script (default: the training entry point and its code).
            instance_type, instance_count: SageMaker's instances (locally, one model server process each).
            serverless_memory_mb, serverless_max_concurrency: a serverless endpoint instead (sagemaker backend).
            ttl_seconds: tag the endpoint to expire; ``smtrain teardown --expired`` removes it then.
            workers: model server workers (SAGEMAKER_MODEL_SERVER_WORKERS).
            image_uri: serve on this image (default: the job's own training image).
            wait: return once the endpoint is InService (else once it is being created).

        Bad input raises :class:`smtrain.core.errors.ArgumentError` naming the argument at fault.
        """
        options: dict[str, Any] = {"instance_type": instance_type, "instance_count": instance_count,
                                   "serverless_memory_mb": serverless_memory_mb,
                                   "serverless_max_concurrency": serverless_max_concurrency,
                                   "ttl_seconds": ttl_seconds, "workers": workers}
        spec, plan, existing = self.plan_deploy(job_name, endpoint_name=endpoint_name, entry_point=entry_point,
                                                source_dir=source_dir, image_uri=image_uri, **options)
        report_notes(plan, self.reporter)
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
        from smtrain.core.errors import NotFoundError

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

    @speaks_python
    def predict(self, endpoint_name: str, data: Any, *, content_type: str = "text/csv",
                accept: str = "application/json") -> Any:
        """Send ``data`` (bytes, str, a DataFrame or rows) and decode the answer when it is JSON (``smtrain predict``).

        Args:
            endpoint_name: the endpoint to call, through the SageMaker Runtime API.
            data: the request body, or rows to encode as ``content_type``.
            content_type: ``text/csv``, ``application/json`` or ``application/x-npy``.
            accept: the answer's content type.
        """
        from smtrain.core.payloads import decode_body, encode_body

        body = encode_body(data, content_type)
        response = invoke(self.backend, endpoint_name, body, content_type, accept)
        return decode_body(response["Body"].read(), str(response.get("ContentType", accept)))

    @speaks_python
    def teardown(self, endpoint_name: str) -> list[str]:
        """Remove the endpoint, its config and its models (``smtrain teardown NAME``); returns what was removed.

        Args:
            endpoint_name: the endpoint; what it left behind (a config, models) goes too.
        """
        from smtrain.core.errors import NotFoundError

        try:
            config_name, models = endpoint_resources(self.backend, endpoint_name)
        except NotFoundError:
            config_name, models = endpoint_name, config_models(self.backend, endpoint_name)
        removed = []
        for step in plan_teardown(endpoint_name, config_name, models):
            if delete_quietly(self.backend, step.operation, step.params):  # type: ignore[union-attr]
                removed.append(f"{step.operation.removeprefix('Delete')} {next(iter(step.params.values()))}")  # type: ignore[union-attr]
        return removed


def invoke(backend: Backend, endpoint_name: str, body: bytes, content_type: str, accept: str) -> dict[str, Any]:
    from smtrain.aws.translation import is_aws_error, translate, translate_invoke

    try:
        return dict(backend.runtime().invoke_endpoint(
            EndpointName=endpoint_name, Body=body, ContentType=content_type, Accept=accept))
    except ConnectionError as exc:
        # Nothing listens at the local runtime address: say whether the endpoint exists at all.
        try:
            call(backend, "DescribeEndpoint", {"EndpointName": endpoint_name}, where=f"endpoint {endpoint_name}")
        except NotFoundError as missing:
            raise not_found(backend, "endpoint", endpoint_name, missing) from exc
        from smtrain.core.errors import EndpointError

        raise EndpointError(f"the runtime at {backend.runtime_url()} is not answering",
                            where=f"endpoint {endpoint_name}",
                            hint=f"redeploy it (`{suggest(backend.config, 'teardown', endpoint_name)}`, "
                                 f"then `{suggest(backend.config, 'deploy', 'JOB', '--endpoint-name', endpoint_name)}`)"
                            ) from exc
    except Exception as exc:
        error = translate_invoke(exc, endpoint_name, listing=suggest(backend.config, "ls"))
        if error is None:
            if not is_aws_error(exc):
                raise
            error = translate(exc, where=f"endpoint {endpoint_name}", backend=backend.name, listing="smtrain ls")
        if isinstance(error, NotFoundError):
            error = not_found(backend, "endpoint", endpoint_name, error)
        raise error from exc


def new_version(plan: Plan) -> tuple[str, list[str]]:
    """The endpoint config and model names a deploy plan creates."""
    calls = {step.step: step.params for step in plan if isinstance(step, ApiCall)}
    return str(calls["endpoint-config"]["EndpointConfigName"]), [str(calls["model"]["ModelName"])]


def ttl_tags(ttl_seconds: int | None) -> list[dict[str, str]]:
    if not ttl_seconds:
        return []
    import datetime as dt

    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=ttl_seconds)
    return [{"Key": "smtrain:expires-at", "Value": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}]

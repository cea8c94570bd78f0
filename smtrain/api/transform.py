"""Batch transform in the Python API: ``sm.transform(...)`` and the :class:`TransformJob` it returns.

:class:`TransformOperations` is mixed into :class:`smtrain.api.session.Session`, which provides the
configuration, the backend, the reporter, and ``_served`` (what ``deploy`` serves for a job, a tuning
job or a registered version).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtrain.api.arguments import speaks_python
from smtrain.backends.base import Backend
from smtrain.core.config import Config
from smtrain.core.errors import JobFailedError, NotFoundError, SmtrainError, UsageError
from smtrain.execution.executor import Reporter, call, execute, report_notes
from smtrain.planning.kinds import TRANSFORM
from smtrain.planning.steps import ApiCall, Plan

if TYPE_CHECKING:
    from smtrain.core.sdk_config import SdkDefaults
    from smtrain.planning.transform import TransformSpec


@dataclass(frozen=True)
class TransformJob:
    """A transform job, as DescribeTransformJob answers; :meth:`output` reads its results."""

    name: str
    status: str
    description: dict[str, Any]
    session: TransformOperations | None = field(default=None, repr=False, compare=False)

    @property
    def failure_reason(self) -> str:
        return str(self.description.get("FailureReason", ""))

    @property
    def output_uri(self) -> str:
        return str(self.description["TransformOutput"]["S3OutputPath"])

    def output(self, *, raw: bool = False, join_input: bool = False) -> Any:
        """The results of every input file, in input order: a DataFrame (``raw``: the bytes of the ``.out``
        files, concatenated). ``join_input``: each input row's columns first, then its output's (for a job
        that did not join them itself with ``join_source="Input"``)."""
        if self.session is None:
            raise UsageError(f"transform job {self.name} is not attached to a session", where="TransformJob",
                             hint="get transform jobs from a Session: sm.transform(...) or sm.transform_job(name)")
        from smtrain.api.transform_output import read_output

        return read_output(self.session.backend, self.description, raw=raw, join_input=join_input)


class TransformOperations:
    """Mixed into ``Session``, which provides ``config``, ``backend``, ``reporter`` and ``_served``."""

    config: Config
    backend: Backend
    reporter: Reporter

    if TYPE_CHECKING:
        def _served(self, reference: str) -> Any: ...

        def planning_config(self) -> Config: ...

        def sdk_defaults(self) -> SdkDefaults: ...

        def explicit_fields(self) -> frozenset[str]: ...

    def transform_spec(self, source: str, *, input: str, **options: Any) -> TransformSpec:
        from smtrain.planning.limits import check_transform
        from smtrain.planning.spec import check_name, new_submission_id, timestamped_name
        from smtrain.planning.transform import TransformSpec

        if not input:
            raise UsageError("no input to transform", where="--input",
                             hint="give --input PATH or s3://bucket/prefix (a file or a folder of files)")
        check_transform(options)
        job_name = options.pop("job_name", "") or timestamped_name(source.rsplit("/", 1)[-1].split(":")[-1])
        if not self.config.is_local and "://" not in input:
            input = str(Path(input).resolve())
            if not Path(input).exists():
                raise UsageError(f"no input at {input}", where="--input", hint="give an existing file or folder")
        output = options.get("output_uri", "")
        if output and not self.config.is_local and not output.startswith("s3://"):
            raise UsageError(f"--output {output} is not an s3:// URI", where="--output",
                             hint="the sagemaker backend writes to S3: give --output s3://bucket/prefix/")
        return TransformSpec(source=source, input_uri=input, job_name=check_name(job_name, "transform job name"),
                             submission_id=new_submission_id(), **options)

    def plan_transform(self, spec: TransformSpec) -> Plan:
        """The requests ``transform`` sends: the source's model (as ``deploy`` creates it), the job, its wait."""
        from smtrain.planning.transform import ServedModel, plan_transform

        served = self._served(spec.source)
        model = ServedModel(model_name=spec.job_name, image=served.image, model_data=served.model_data,
                            program=served.program, submit_directory=served.submit_directory)
        return plan_transform(spec, self.planning_config(), model, root=self.backend.artifact_root(),
                              role=self.backend.role(), sdk=self.sdk_defaults(), explicit=self.explicit_fields())

    @speaks_python
    def transform(
        self,
        source: str,
        *,
        input: str,
        output_uri: str = "",
        job_name: str = "",
        content_type: str = "text/csv",
        accept: str = "text/csv",
        split_type: str = "Line",
        compression: str = "",
        strategy: str = "MultiRecord",
        max_payload_mb: int | None = None,
        max_concurrent: int | None = None,
        assemble_with: str = "Line",
        input_filter: str = "",
        output_filter: str = "",
        join_source: str = "",
        instance_type: str = "",
        instance_count: int = 1,
        environment: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        output_kms_key: str = "",
        volume_kms_key: str = "",
        wait: bool = True,
        logs: bool = True,
    ) -> TransformJob:
        """Run a batch transform job: the model's predictions for every record of ``input`` (``smtrain transform``).

        Args:
            source: a Completed training job, a tuning job (its best training job), or a registered model
                version ``GROUP/VERSION`` or its ARN; served on its own image, as ``deploy`` serves it.
            input: a file or a folder (or an ``s3://`` object or prefix); each file gives ``<file>.out``.
            output_uri: where the ``.out`` files go (default: ``<artifacts>/output/<transform job>/``).
            job_name: the transform job's (and its model's) name (default ``<source>-<timestamp>``).
            content_type, accept: the records' media type, and the one to answer in.
            split_type: ``None`` (a file is one record), ``Line`` or ``RecordIO``.
            compression: ``Gzip`` for gzipped input files.
            strategy: ``MultiRecord`` (records packed up to ``max_payload_mb``) or ``SingleRecord``.
            max_payload_mb: the largest request in MB (SageMaker's default 6; 0 to 100).
            max_concurrent: requests in flight at once per instance (MaxConcurrentTransforms).
            assemble_with: ``Line`` (a newline after each answer) or ``None``.
            input_filter, output_filter: JSONPath on each record (for CSV, its columns: ``$[1:]``).
            join_source: ``Input`` to join each input record with its output.
            instance_type, instance_count: SageMaker's instances (locally, one model server each).
            environment: extra environment variables of the model container.
            tags: tags for the job.
            output_kms_key, volume_kms_key: KMS keys for the output and the instances' volumes.
            wait: follow the job to its end (else return once it started).
            logs: print the job's log while following it.

        Bad input raises :class:`smtrain.core.errors.ArgumentError` naming the argument at fault.
        """
        spec = self.transform_spec(
            source, input=input, output_uri=output_uri, job_name=job_name, content_type=content_type,
            accept=accept, split_type=split_type, compression=compression, strategy=strategy,
            max_payload_mb=max_payload_mb, max_concurrent=max_concurrent, assemble_with=assemble_with,
            input_filter=input_filter, output_filter=output_filter, join_source=join_source,
            instance_type=instance_type, instance_count=instance_count, environment=dict(environment or {}),
            tags=dict(tags or {}), output_kms_key=output_kms_key, volume_kms_key=volume_kms_key)
        job = self.run_transform(spec, wait=wait, logs=logs)
        if job.status in ("Failed", "Stopped"):
            raise JobFailedError(f"transform job {job.name} {job.status}: {job.failure_reason}", where="transform",
                                 hint=f"see its log: `smtrain logs {job.name}`")
        return job

    def run_transform(self, spec: TransformSpec, *, wait: bool = True, logs: bool = True) -> TransformJob:
        """Start the job of ``spec`` and, with ``wait``, follow it to its end, however it ends."""
        from smtrain.execution.following import follow_job

        plan = self.plan_transform(spec)
        report_notes(plan, self.reporter)
        self._check_local_input(plan)
        try:
            execute(plan, self.backend, self.reporter, wait=False)
        except (SmtrainError, KeyboardInterrupt):
            self._remove_model(plan)  # a job that was never created leaves no model behind
            raise
        self.reporter.info(f"transform job {spec.job_name} started")
        if not wait:
            return self.transform_job(spec.job_name)
        final = follow_job(self.backend, TRANSFORM, spec.job_name, self.reporter, logs=logs)
        return TransformJob(spec.job_name, final[TRANSFORM.status_key], final, session=self)

    def _check_local_input(self, plan: Plan) -> None:
        """On this machine, a missing, empty or mistyped input is refused before anything is created."""
        if not self.backend.runs_here:
            return
        from smtrain.backends.local.transform import inputs

        request = _call(plan, TRANSFORM.create)
        uri = request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        if uri.startswith("s3://"):
            return
        try:
            inputs.check_input(inputs.uri_path(uri, "inputs"), request["TransformInput"])
        except inputs.InputRefused as refused:
            raise UsageError(str(refused), where="--input",
                             hint="give a file or folder of records in --content-type (no header row)") from None

    def _remove_model(self, plan: Plan) -> None:
        from smtrain.execution.executor import delete_quietly

        transform = _call(plan, TRANSFORM.create)
        try:
            call(self.backend, TRANSFORM.describe, {TRANSFORM.name_key: transform["TransformJobName"]})
            return  # the job exists: its model is its own
        except NotFoundError:
            pass
        if any(isinstance(step, ApiCall) and step.operation == "CreateModel" for step in plan):
            delete_quietly(self.backend, "DeleteModel", {"ModelName": _call(plan, "CreateModel")["ModelName"]})

    @speaks_python
    def transform_job(self, name: str) -> TransformJob:
        """The transform job called ``name``."""
        from smtrain.execution.lookups import not_found

        try:
            description = call(self.backend, TRANSFORM.describe, {TRANSFORM.name_key: name},
                               where=f"transform job {name}")
        except NotFoundError as exc:
            raise not_found(self.backend, TRANSFORM.noun, name, exc) from exc
        return TransformJob(name, description[TRANSFORM.status_key], description, session=self)


def _call(plan: Plan, operation: str) -> Any:
    """The request of the plan's ``operation`` call."""
    return next(step.params for step in plan if isinstance(step, ApiCall) and step.operation == operation)

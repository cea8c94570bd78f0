"""Processing and evaluation jobs in the Python API: ``sm.process(...)`` and ``sm.evaluate(...)``.

Mixed into :class:`smtrain.api.session.Session`. ``process`` is ``smtrain process``; ``evaluate`` is a
processing job over a training job's model.tar.gz and a test set, whose script writes evaluation.json
(the layout of :mod:`smtrain.planning.evaluation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtrain.api.arguments import speaks_python
from smtrain.api.resources import Job, TrainingJob
from smtrain.backends.base import Backend
from smtrain.core.config import Config
from smtrain.core.errors import NotFoundError, UsageError
from smtrain.execution.executor import call, execute, report_notes
from smtrain.execution.following import follow_job
from smtrain.execution.lookups import not_found
from smtrain.planning.kinds import PROCESSING
from smtrain.planning.processing import (
    DataInput,
    DataOutput,
    ProcessingSpec,
    check_processing,
    parse_input,
    parse_output,
    plan_process,
)
from smtrain.planning.spec import check_name, timestamped_name
from smtrain.planning.steps import Plan

if TYPE_CHECKING:
    from smtrain.core.sdk_config import SdkDefaults
    from smtrain.execution.executor import Reporter

Inputs = Mapping[str, str] | Sequence[str] | None


class ProcessingOperations:
    """``process``, ``evaluate`` and ``processing_job`` (the session provides config, backend, reporter)."""

    config: Config
    backend: Backend
    reporter: Reporter

    if TYPE_CHECKING:
        def trained_job(self, name: str) -> TrainingJob: ...

        def planning_config(self) -> Config: ...

        def sdk_defaults(self) -> SdkDefaults: ...

        def explicit_fields(self) -> frozenset[str]: ...

    def processing_spec(self, code: str, *, source_dir: str | Path | None = None, inputs: Inputs = None,
                        outputs: Inputs = None, arguments: Sequence[str] = (), job_name: str = "",
                        environment: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None,
                        instance_count: int | None = None, **options: Any) -> ProcessingSpec:
        """The checked spec of a processing job (every rule is met before anything is uploaded or run)."""
        from smtrain.api.session import run_tags

        source = Path(source_dir) if source_dir is not None else None
        code_file = (source / code) if source is not None else Path(code)
        if source is not None and not source.is_dir():
            raise UsageError(f"source dir {str(source)!r} does not exist", where="--source-dir",
                             hint="give the folder that holds your script")
        if not code_file.is_file():
            raise UsageError(f"code file {str(code_file)!r} not found", where="--code",
                             hint="give the processing script" + (", relative to --source-dir" if source else ""))
        if source is not None:
            from smtrain.planning.limits import check_entry_point_inside

            check_entry_point_inside(source, code, where="--code")
        data_inputs = _inputs(inputs)
        for item in data_inputs:
            if "://" not in item.source and not Path(item.source).expanduser().exists():
                raise UsageError(f"path {item.source!r} does not exist", where=f"--input {item.name}",
                                 hint="give an existing file, folder or s3:// URI")
        name = check_name(job_name, "job name") if job_name else timestamped_name(Path(code).stem)
        tag_source = source if source is not None else code_file.parent
        spec = ProcessingSpec(
            code=code, source_dir=source, job_name=name, inputs=data_inputs, outputs=_outputs(outputs),
            arguments=tuple(str(a) for a in arguments), environment=dict(environment or {}),
            tags=run_tags(tag_source, dict(tags or {})),
            instance_count=1 if instance_count is None else instance_count, **options)
        check_processing(spec)
        return spec

    def plan_process(self, spec: ProcessingSpec, *, root: str = "") -> Plan:
        """The requests `process` sends; ``root`` overrides where artifacts go (for offline planning)."""
        image = spec.image_uri or self.backend.image_uri(spec.framework_version or self.config.framework_version)
        return plan_process(spec, self.planning_config(), root=root or self.backend.artifact_root(),
                            image_uri=image, role=self.backend.role(), sdk=self.sdk_defaults(),
                            explicit=self.explicit_fields())

    @speaks_python
    def process(
        self,
        code: str,
        *,
        source_dir: str | Path | None = None,
        inputs: Inputs = None,
        outputs: Inputs = None,
        arguments: Sequence[str] = (),
        job_name: str = "",
        environment: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        instance_type: str = "",
        instance_count: int | None = None,
        sharded: Sequence[str] = (),
        image_uri: str = "",
        framework_version: str = "",
        max_runtime_seconds: int | None = None,
        volume_kms_key: str = "",
        output_kms_key: str = "",
        subnets: Sequence[str] = (),
        security_groups: Sequence[str] = (),
        network_isolation: bool = False,
        wait: bool = True,
        logs: bool = True,
    ) -> Job:
        """Run a processing job (``smtrain process``) and, by default, follow it to the end.

        Args:
            code: the processing script (relative to ``source_dir`` when one is given).
            source_dir: a folder packed with the script, whose requirements.txt is installed (FrameworkProcessor).
            inputs: name -> ``SOURCE[:DESTINATION]`` (a local path or ``s3://`` URI; DESTINATION under
                /opt/ml/processing, default /opt/ml/processing/input/<name>), or ``["NAME=SOURCE[:DEST]", ...]``.
            outputs: name -> ``SOURCE[:DESTINATION]`` (SOURCE under /opt/ml/processing; DESTINATION a URI,
                default <bucket>/<prefix>/<job>/output/<name>), or a list of ``"NAME=SOURCE[:DEST]"``.
            arguments: passed to the script (ContainerArguments).
            job_name: the job's name (default ``<script>-<timestamp>``); never reused.
            sharded: names of inputs split between the instances (ShardedByS3Key) instead of copied to each.
            environment, tags, instance_type, instance_count, image_uri, framework_version, max_runtime_seconds,
            volume_kms_key, output_kms_key, subnets, security_groups, network_isolation: as for ``fit``.
            wait: follow the job to its end; logs: print its log meanwhile.

        Bad input raises :class:`smtrain.core.errors.ArgumentError` naming the argument at fault.
        """
        spec = self.processing_spec(
            code, source_dir=source_dir, inputs=inputs, outputs=outputs, arguments=arguments, job_name=job_name,
            environment=environment, tags=tags, instance_type=instance_type, instance_count=instance_count,
            sharded=tuple(sharded), image_uri=image_uri, framework_version=framework_version,
            max_runtime_seconds=max_runtime_seconds,
            volume_kms_key=volume_kms_key, output_kms_key=output_kms_key, subnets=tuple(subnets),
            security_groups=tuple(security_groups), network_isolation=network_isolation)
        return self.run_processing(spec, wait=wait, logs=logs)

    def run_processing(self, spec: ProcessingSpec, *, wait: bool = True, logs: bool = True) -> Job:
        plan = self.plan_process(spec)
        report_notes(plan, self.reporter)
        execute(plan, self.backend, self.reporter, wait=False)
        self.reporter.info(f"processing job {spec.job_name} started")
        if not wait:
            return self.processing_job(spec.job_name)
        final = follow_job(self.backend, PROCESSING, spec.job_name, self.reporter, logs=logs,
                           source_dir=spec.source_dir)
        return Job(spec.job_name, PROCESSING, final[PROCESSING.status_key], final)

    @speaks_python
    def processing_job(self, name: str) -> Job:
        try:
            description = call(self.backend, PROCESSING.describe, {PROCESSING.name_key: name},
                               where=f"processing job {name}")
        except NotFoundError as exc:
            raise not_found(self.backend, PROCESSING.noun, name, exc) from exc
        return Job(name, PROCESSING, description[PROCESSING.status_key], description)

    # -- evaluation ----------------------------------------------------------------------------
    def evaluation_spec(self, training_job: str, code: str, *, inputs: Inputs = None,
                        source_dir: str | Path | None = None, job_name: str = "", **options: Any) -> ProcessingSpec:
        """A processing job over ``training_job``'s model.tar.gz (input ``model`` at /opt/ml/processing/model) and
        the held-out data (``inputs``, which must name ``test``; each defaults to /opt/ml/processing/<name>),
        whose script writes /opt/ml/processing/evaluation/evaluation.json (output ``evaluation``)."""
        from smtrain.planning.evaluation import MODEL_INPUT, MODEL_PATH, OUTPUT_NAME, PROCESSING_PATH

        given = _inputs(inputs, default_root=PROCESSING_PATH)
        if "test" not in {item.name for item in given}:
            raise UsageError("evaluate needs the held-out data as the input named 'test'", where="--input",
                             hint="give --input test=PATH_OR_URI (the test split, e.g. data/penguins/test)")
        trained = self.trained_job(training_job)
        if trained.status != "Completed":
            raise UsageError(f"training job {training_job} is {trained.status}, so it has no model to evaluate",
                             where="evaluate", hint="evaluate a job whose status is Completed (`smtrain ls`)")
        model = trained.description["ModelArtifacts"]["S3ModelArtifacts"]
        texts = [f"{MODEL_INPUT}={model}:{MODEL_PATH}", *(f"{i.name}={i.source}:{i.destination}" for i in given)]
        name = job_name or timestamped_name(f"{training_job[:30]}-eval")
        spec = self.processing_spec(code, source_dir=source_dir, inputs=texts, job_name=name,
                                    outputs=[f"{OUTPUT_NAME}={PROCESSING_PATH}/{OUTPUT_NAME}"], **options)
        return replace(spec, tags={**spec.tags, EVALUATES_TAG: training_job})  # smtrain's own: after the user's check

    @speaks_python
    def evaluate(
        self,
        training_job: str,
        code: str,
        *,
        inputs: Inputs = None,
        source_dir: str | Path | None = None,
        arguments: Sequence[str] = (),
        job_name: str = "",
        environment: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        instance_type: str = "",
        instance_count: int | None = None,
        sharded: Sequence[str] = (),
        image_uri: str = "",
        framework_version: str = "",
        max_runtime_seconds: int | None = None,
        volume_kms_key: str = "",
        output_kms_key: str = "",
        subnets: Sequence[str] = (),
        security_groups: Sequence[str] = (),
        network_isolation: bool = False,
        wait: bool = True,
        logs: bool = True,
    ) -> Job:
        """Evaluate a training job's model on held-out data (``smtrain evaluate``): a processing job whose
        script writes evaluation.json; ``evaluation(job)`` reads it, ``register(..., evaluation=job)`` attaches it.

        Args:
            training_job: a Completed training job; its model.tar.gz is the input ``model``.
            code: the evaluation script (relative to ``source_dir`` when one is given).
            inputs: name -> ``PATH_OR_URI[:DESTINATION]``; must name ``test``; default destination
                /opt/ml/processing/<name>.
            source_dir, arguments, job_name, environment, tags, instance_type, instance_count, sharded, image_uri,
            framework_version, max_runtime_seconds, volume_kms_key, output_kms_key, subnets, security_groups,
            network_isolation, wait, logs: as for ``process``.

        Bad input raises :class:`smtrain.core.errors.ArgumentError` naming the argument at fault.
        """
        spec = self.evaluation_spec(
            training_job, code, inputs=inputs, source_dir=source_dir, job_name=job_name, arguments=arguments,
            environment=environment, tags=tags, instance_type=instance_type, instance_count=instance_count,
            sharded=tuple(sharded), image_uri=image_uri, framework_version=framework_version,
            max_runtime_seconds=max_runtime_seconds,
            volume_kms_key=volume_kms_key, output_kms_key=output_kms_key, subnets=subnets,
            security_groups=security_groups, network_isolation=network_isolation)
        return self.run_processing(spec, wait=wait, logs=logs)


EVALUATES_TAG = "smtrain:evaluates"


def _inputs(given: Inputs, *, default_root: str = "/opt/ml/processing/input") -> tuple[DataInput, ...]:
    if given is None:
        return ()
    texts = [f"{k}={v}" for k, v in given.items()] if isinstance(given, Mapping) else [str(t) for t in given]
    return tuple(parse_input(text, default_root=default_root) for text in texts)


def _outputs(given: Inputs) -> tuple[DataOutput, ...]:
    if given is None:
        return ()
    texts = [f"{k}={v}" for k, v in given.items()] if isinstance(given, Mapping) else [str(t) for t in given]
    return tuple(parse_output(text) for text in texts)

"""Processing jobs planned: ``smtrain process`` and ``smtrain evaluate`` as CreateProcessingJob, built as SDK v2
builds it (no I/O).

Two ways to give the code, the two SDK v2 processors (sagemaker/processing.py), field for field:

- ``--code FILE``: ``SKLearnProcessor(...).run(code=FILE)``. The file is uploaded to
  ``<job>/input/code/<file>`` and is the input named ``code`` at /opt/ml/processing/input/code;
  ``ContainerEntrypoint`` is ``["python3", "/opt/ml/processing/input/code/<file>"]``.
- ``--source-dir DIR --code FILE``: ``FrameworkProcessor(estimator_cls=SKLearn, ...).run(code=FILE,
  source_dir=DIR)``. DIR is packed as ``sourcedir.tar.gz`` (input ``code`` at
  /opt/ml/processing/input/code/) and a generated ``runproc.sh`` (input ``entrypoint``) untars it,
  installs its requirements.txt and runs ``python3 FILE``; ``ContainerEntrypoint`` is
  ``["/bin/bash", "/opt/ml/processing/input/entrypoint/runproc.sh"]``.

Inputs and outputs are given as SDK v2's ``ProcessingInput(source, destination, input_name)`` and
``ProcessingOutput(source, destination, output_name)``: a local input is uploaded to
``<job>/input/<name>``, an output without a destination goes to ``<job>/output/<name>``
(``Processor._normalize_inputs`` / ``_normalize_outputs``). smtrain's uploads go under the
submission's id, so two submissions never write over each other's files.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from textwrap import dedent
from typing import Any

from smtrain.core.config import Config
from smtrain.core.errors import UsageError
from smtrain.core.sdk_config import SdkDefaults
from smtrain.planning.kinds import PROCESSING
from smtrain.planning.plan import SMTRAIN_TAG, join_uri, with_sdk_defaults
from smtrain.planning.spec import new_submission_id
from smtrain.planning.steps import ApiCall, Plan, Step, Upload

PROCESSING_ROOT = PurePosixPath("/opt/ml/processing")
CODE_BASE = "/opt/ml/processing/input/"  # ScriptProcessor._CODE_CONTAINER_BASE_PATH
CODE_INPUT = "code"  # ScriptProcessor._CODE_CONTAINER_INPUT_NAME
ENTRYPOINT_INPUT = "entrypoint"  # FrameworkProcessor._CODE_CONTAINER_INPUT_NAME
COMMAND = ("python3",)  # SKLearnProcessor's command (sagemaker/sklearn/processing.py)
FRAMEWORK_COMMAND = ("python",)  # FrameworkProcessor(command=None) runs ["python"] (sagemaker/processing.py)
VOLUME_SIZE_GB = 30  # Processor(volume_size_in_gb=30)
UPLOAD_MODE = "EndOfJob"


@dataclass(frozen=True)
class DataInput:
    """``--input NAME=SOURCE[:DESTINATION]``: SOURCE a local path or URI, DESTINATION under /opt/ml/processing."""

    name: str
    source: str
    destination: str


@dataclass(frozen=True)
class DataOutput:
    """``--output NAME=SOURCE[:DESTINATION]``: SOURCE under /opt/ml/processing, DESTINATION a URI ("" for the
    SDK's default, ``<job>/output/<name>``)."""

    name: str
    source: str
    destination: str = ""


@dataclass(frozen=True)
class ProcessingSpec:
    code: str
    job_name: str
    source_dir: Path | None = None
    inputs: tuple[DataInput, ...] = ()
    outputs: tuple[DataOutput, ...] = ()
    arguments: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    image_uri: str = ""
    framework_version: str = ""
    instance_type: str = ""
    instance_count: int = 1
    max_runtime_seconds: int | None = None
    volume_kms_key: str = ""
    output_kms_key: str = ""
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    network_isolation: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    submission_id: str = field(default_factory=new_submission_id)
    sharded: tuple[str, ...] = ()  # inputs split between the instances (S3DataDistributionType ShardedByS3Key)

    @property
    def script(self) -> str:
        """The script's name in the container: its path in the source dir, or the file's own name."""
        return self.code if self.source_dir is not None else Path(self.code).name


# -- parsing the flags ------------------------------------------------------------------------
def parse_input(text: str, flag: str = "--input", *, default_root: str = str(PROCESSING_ROOT / "input")
                ) -> DataInput:
    """``NAME=SOURCE[:DESTINATION]``; DESTINATION defaults to ``default_root``/NAME
    (/opt/ml/processing/input/NAME, the folder the SDK's processing examples read their input from)."""
    name, value = _name_and_value(text, flag)
    source, destination = _split_destination(value)
    return DataInput(name, source, destination or str(PurePosixPath(default_root) / name))


def parse_output(text: str, flag: str = "--output") -> DataOutput:
    """``NAME=SOURCE[:DESTINATION]`` or ``NAME``: SOURCE defaults to /opt/ml/processing/output/NAME."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not name:
        raise UsageError(f"malformed {flag} {text!r}", where=flag, hint=f"write {flag} NAME=/opt/ml/processing/DIR")
    if not sep:
        return DataOutput(name, str(PROCESSING_ROOT / "output" / name))
    source, colon, destination = value.partition(":")  # a container path holds no colon; a URI may
    return DataOutput(name, source, destination if colon else "")


def _name_and_value(text: str, flag: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value:
        raise UsageError(f"malformed {flag} {text!r}", where=flag, hint=f"write {flag} NAME=PATH_OR_URI[:DESTINATION]")
    return name.strip(), value


def _split_destination(value: str) -> tuple[str, str]:
    """``data/raw:/opt/ml/processing/raw`` -> both; ``s3://b/k`` -> no destination (``://`` is a scheme's)."""
    index = value.rfind(":/")
    while index > 0 and value[index:index + 3] == "://":
        index = value.rfind(":/", 0, index)
    if index <= 0:
        return value, ""
    return value[:index], value[index + 1:]


# -- checks: bad input is refused before anything runs -----------------------------------------
def check_processing(spec: ProcessingSpec) -> None:
    """Every rule a submission must meet, each error naming the flag and the fix."""
    from smtrain.planning.validation import check_at_least

    check_at_least(spec.instance_count, 1, what="instance count", where="--instance-count",
                   hint="give 1 or more instances")
    check_at_least(spec.max_runtime_seconds, 1, what="max runtime", where="--max-runtime",
                   hint="give the longest run in seconds, 1 or more")
    _check_names((i.name for i in spec.inputs), "--input", reserved=_reserved_inputs(spec))
    _check_names((o.name for o in spec.outputs), "--output", reserved=())
    destinations: dict[str, str] = {}
    for item in spec.inputs:
        where = f"--input {item.name}"
        check_container_path(item.destination, where=where)
        taken = destinations.setdefault(str(PurePosixPath(item.destination)), item.name)
        if taken != item.name:
            raise UsageError(f"inputs {taken!r} and {item.name!r} have one destination, {item.destination}",
                             where=where, hint="give each input its own folder under /opt/ml/processing/")
    for output in spec.outputs:
        check_container_path(output.source, where=f"--output {output.name}")
    names = {item.name for item in spec.inputs}
    for name in spec.sharded:
        if name not in names:
            raise UsageError(f"--sharded {name}: no input is named {name!r}", where="--sharded",
                             hint="name one of the --input NAMEs" + (f": {', '.join(sorted(names))}" if names else ""))


def _reserved_inputs(spec: ProcessingSpec) -> tuple[str, ...]:
    return (CODE_INPUT, ENTRYPOINT_INPUT) if spec.source_dir is not None else (CODE_INPUT,)


def _check_names(names: Iterable[str], flag: str, *, reserved: Collection[str]) -> None:
    from smtrain.planning.validation import check_segment

    seen: set[str] = set()
    for name in names:
        check_segment(name, what=f"{flag[2:]} name", where=f"{flag} {name}")
        if name in seen:
            raise UsageError(f"{flag[2:]} name {name!r} is used twice", where=f"{flag} {name}",
                             hint=f"give each {flag} its own name")
        if name in reserved:
            raise UsageError(f"{flag[2:]} name {name!r} is the job's own (the code is uploaded as it)",
                             where=f"{flag} {name}", hint="choose another name")
        seen.add(name)


def check_container_path(path: str, *, where: str) -> None:
    """A LocalPath must be a folder under /opt/ml/processing/ (CreateProcessingJob API reference,
    ProcessingS3Input.LocalPath and ProcessingS3Output.LocalPath: "must begin with /opt/ml/processing/")."""
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts or not pure.is_relative_to(PROCESSING_ROOT) \
            or pure == PROCESSING_ROOT:
        raise UsageError(f"{path!r} is not under /opt/ml/processing/", where=where,
                         hint="SageMaker copies inputs to, and uploads outputs from, folders under "
                              "/opt/ml/processing/ (e.g. /opt/ml/processing/input/data)")


# -- the plan -------------------------------------------------------------------------------------
def plan_process(spec: ProcessingSpec, config: Config, *, root: str, image_uri: str, role: str,
                 sdk: SdkDefaults | None = None, explicit: Collection[str] = ()) -> Plan:
    """Upload the code (and local inputs for SageMaker), create the job, wait for it."""
    check_processing(spec)
    job = spec.job_name
    steps: list[Step] = []
    inputs = []
    for item in spec.inputs:
        uri, upload = input_uri(item, root, spec, local=config.is_local)
        if upload:
            steps.append(upload)
        inputs.append(processing_input(item.name, uri, item.destination, sharded=item.name in spec.sharded))
    code_steps, code_inputs, entrypoint = code_plan(spec, root)
    steps += code_steps
    request = processing_request(spec, config, [*inputs, *code_inputs], entrypoint, root=root,
                                 image_uri=image_uri, role=role)
    steps.append(with_sdk_defaults(ApiCall("processing", "sagemaker", PROCESSING.create, request), sdk, explicit))
    steps.append(PROCESSING.wait("processing-done", job))
    return tuple(steps)


def input_uri(item: DataInput, root: str, spec: ProcessingSpec, *, local: bool) -> tuple[str, Upload | None]:
    """A URI is used as is; a local path in place on the local backend, else uploaded to <job>/input/<name>."""
    if "://" in item.source:
        return item.source, None
    path = Path(item.source).expanduser().resolve()
    if local:
        return path.as_uri(), None
    uri = join_uri(root, spec.job_name, "input", spec.submission_id, item.name)
    return uri, Upload(step=f"upload-{item.name}", kind="data", local_path=str(path), uri=uri + "/")


def code_plan(spec: ProcessingSpec, root: str) -> tuple[list[Step], list[dict[str, Any]], list[str]]:
    """The uploads, inputs and ContainerEntrypoint that bring the code into the container."""
    job, submission = spec.job_name, spec.submission_id
    if spec.source_dir is None:
        uri = join_uri(root, job, "input", submission, CODE_INPUT, spec.script)
        upload = Upload("upload-code", "file", str(Path(spec.code).resolve()), uri)
        return ([upload], [processing_input(CODE_INPUT, uri, CODE_BASE + CODE_INPUT)],
                [*COMMAND, CODE_BASE + CODE_INPUT + "/" + spec.script])
    source = join_uri(root, job, "source", submission, "sourcedir.tar.gz")
    runproc = join_uri(root, job, "source", submission, "runproc.sh")
    uploads: list[Step] = [Upload("upload-source", "source", str(spec.source_dir), source, spec.code),
                           Upload("upload-entrypoint", "text", "", runproc, content=runproc_script(spec.code))]
    inputs = [processing_input(CODE_INPUT, source, CODE_BASE + CODE_INPUT + "/"),
              processing_input(ENTRYPOINT_INPUT, runproc, CODE_BASE + ENTRYPOINT_INPUT)]
    return uploads, inputs, ["/bin/bash", CODE_BASE + ENTRYPOINT_INPUT + "/runproc.sh"]


def runproc_script(script: str) -> str:
    """The runproc.sh SDK v2's FrameworkProcessor generates (``_generate_framework_script``), word for word."""
    return dedent(f"""\
        #!/bin/bash

        cd /opt/ml/processing/input/code/
        tar -xzf sourcedir.tar.gz

        # Exit on any error. SageMaker uses error code to mark failed job.
        set -e

        if [[ -f 'requirements.txt' ]]; then
            # Optionally log into CodeArtifact
            if ! hash aws 2>/dev/null; then
                echo "AWS CLI is not installed. Skipping CodeArtifact login."
            else
                echo 'CodeArtifact repository not specified. Skipping login.'
            fi

            # Some py3 containers has typing, which may breaks pip install
            pip uninstall --yes typing

            python -m pip install -r requirements.txt
        fi

        {" ".join(FRAMEWORK_COMMAND)} {script} "$@"
    """)


def processing_input(name: str, uri: str, local_path: str, *, sharded: bool = False) -> dict[str, Any]:
    """A ProcessingInput with SDK v2's defaults (``ProcessingInput``: S3Prefix, File mode, FullyReplicated
    unless ``s3_data_distribution_type="ShardedByS3Key"``, no compression, not app-managed)."""
    return {"InputName": name, "AppManaged": False, "S3Input": {
        "S3Uri": uri, "LocalPath": local_path, "S3DataType": "S3Prefix", "S3InputMode": "File",
        "S3DataDistributionType": "ShardedByS3Key" if sharded else "FullyReplicated", "S3CompressionType": "None"}}


def processing_output(name: str, uri: str, local_path: str) -> dict[str, Any]:
    return {"OutputName": name, "AppManaged": False,
            "S3Output": {"S3Uri": uri, "LocalPath": local_path, "S3UploadMode": UPLOAD_MODE}}


def output_uri(output: DataOutput, root: str, job: str, *, local: bool) -> str:
    if not output.destination:
        return join_uri(root, job, "output", output.name)
    if "://" in output.destination:
        return output.destination
    if not local:
        raise UsageError(f"output {output.name!r} goes to {output.destination!r}, which is not an s3:// URI",
                         where=f"--output {output.name}",
                         hint="give an s3:// destination, or none for <bucket>/<prefix>/<job>/output/<name>")
    return Path(output.destination).expanduser().resolve().as_uri()


def processing_request(spec: ProcessingSpec, config: Config, inputs: list[dict[str, Any]], entrypoint: list[str],
                       *, root: str, image_uri: str, role: str) -> dict[str, Any]:
    app: dict[str, Any] = {"ImageUri": image_uri, "ContainerEntrypoint": entrypoint}
    if spec.arguments:
        app["ContainerArguments"] = list(spec.arguments)
    cluster: dict[str, Any] = {
        "InstanceCount": spec.instance_count,
        "InstanceType": "local" if config.is_local else (spec.instance_type or config.instance_type),
        "VolumeSizeInGB": VOLUME_SIZE_GB,
    }
    if spec.volume_kms_key:
        cluster["VolumeKmsKeyId"] = spec.volume_kms_key
    request: dict[str, Any] = {
        "ProcessingJobName": spec.job_name,
        "ProcessingResources": {"ClusterConfig": cluster},
        "AppSpecification": app,
        "RoleArn": role,
        "ProcessingInputs": inputs,
        "Tags": [dict(SMTRAIN_TAG), *({"Key": k, "Value": v} for k, v in spec.tags.items())],
    }
    if spec.outputs:
        outputs: dict[str, Any] = {"Outputs": [
            processing_output(o.name, output_uri(o, root, spec.job_name, local=config.is_local), o.source)
            for o in spec.outputs]}
        if spec.output_kms_key or config.kms_key:
            outputs["KmsKeyId"] = spec.output_kms_key or config.kms_key
        request["ProcessingOutputConfig"] = outputs
    if spec.max_runtime_seconds:  # the SDK sends StoppingCondition only when max_runtime_in_seconds is given
        request["StoppingCondition"] = {"MaxRuntimeInSeconds": spec.max_runtime_seconds}
    if spec.environment:
        request["Environment"] = dict(spec.environment)
    if spec.network_isolation or spec.subnets or spec.security_groups:
        request["NetworkConfig"] = network_config(spec)
    return request


def network_config(spec: ProcessingSpec) -> dict[str, Any]:
    """As SDK v2's ``NetworkConfig._to_request_dict`` (sagemaker/network.py)."""
    config: dict[str, Any] = {"EnableNetworkIsolation": spec.network_isolation}
    if spec.subnets or spec.security_groups:
        config["VpcConfig"] = {"SecurityGroupIds": list(spec.security_groups), "Subnets": list(spec.subnets)}
    return config

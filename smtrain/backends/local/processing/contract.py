"""The processing container contract, as facts: where each file goes and what the script is run as.

Sources, named beside each fact:

- AWS, "How Amazon SageMaker Processing runs your processing container image" and "How Amazon SageMaker
  Processing configures input and output for your processing container"
  (https://docs.aws.amazon.com/sagemaker/latest/dg/build-your-own-processing-container.html): inputs are
  copied to each ``LocalPath`` before the container starts, which must begin with ``/opt/ml/processing/``;
  the container runs ``AppSpecification.ContainerEntrypoint`` followed by ``ContainerArguments``
  (overriding the image's ENTRYPOINT and CMD); ``Environment`` is set; exit code 0 means success, any
  other failure; each output's ``LocalPath`` "will be created by the platform and exist when your
  container's entrypoint is invoked" (API reference, ProcessingS3Output,
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProcessingS3Output.html), so a folder the
  script leaves empty is an empty output, not an error; outputs are uploaded from it at the end of the job
  (``S3UploadMode`` EndOfJob); ``/opt/ml/config/processingjobconfig.json`` holds the job's configuration
  and ``/opt/ml/config/resourceconfig.json`` the cluster's (``current_host``, ``hosts``); the
  container may write ``/opt/ml/output/message``, whose content becomes the job's ``ExitMessage``.
- SDK v2 local mode (sagemaker/local/entities.py ``_LocalProcessingJob.start`` and
  sagemaker/local/image.py ``_SageMakerContainer.write_processing_config_files`` /
  ``_prepare_processing_volumes``): refuses DatasetDefinition inputs, S3InputMode other than File,
  S3DataDistributionType other than FullyReplicated, S3CompressionType other than None,
  FeatureStoreOutput outputs and S3UploadMode other than EndOfJob; writes ``resourceconfig.json``
  as ``{current_host, hosts, network_interface_name: eth0, current_instance_type}`` and
  ``processingjobconfig.json`` as the Describe fields below.
- SDK v2 ``FrameworkProcessor._generate_framework_script`` (sagemaker/processing.py): the generated
  ``runproc.sh`` cds to /opt/ml/processing/input/code/, untars sourcedir.tar.gz, installs
  requirements.txt when there is one, and runs ``<command> <script> "$@"``.

Locally the job's folder plays ``/opt/ml``: ``/opt/ml/processing/x`` is ``<job folder>/processing/x``.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

OPT_ML = PurePosixPath("/opt/ml")
PROCESSING_ROOT = OPT_ML / "processing"
CURRENT_HOST = "algo-1"
NETWORK_INTERFACE = "eth0"
# The Describe fields SDK v2 local mode writes into processingjobconfig.json (image.py).
CONFIG_KEYS = ("ProcessingJobArn", "ProcessingJobName", "AppSpecification", "Environment", "ProcessingInputs",
               "ProcessingOutputConfig", "ProcessingResources", "RoleArn", "StoppingCondition", "NetworkConfig")
PYTHONS = ("python", "python3")
EXIT_MESSAGE_LIMIT = 1024  # DescribeProcessingJob.ExitMessage: at most 1 KB (botocore's model: max 1024)
# The last line of SDK v2's runproc.sh: `{command} {script} "$@"` (FrameworkProcessor._generate_framework_script).
RUNPROC_CALL = re.compile(r'^\s*(?P<command>\S.*?)\s+(?P<script>\S+)\s+"\$@"\s*$')
RUNPROC_MARKERS = ("cd /opt/ml/processing/input/code/", "tar -xzf sourcedir.tar.gz")


def in_job(container_path: str, job_dir: Path) -> Path:
    """Where ``container_path`` (a path under /opt/ml) is in the job's folder."""
    path = PurePosixPath(container_path)
    return job_dir.joinpath(*path.relative_to(OPT_ML).parts)


def under_processing(container_path: str) -> bool:
    path = PurePosixPath(container_path)
    return path.is_absolute() and ".." not in path.parts and path.is_relative_to(PROCESSING_ROOT) \
        and path != PROCESSING_ROOT


def resource_config(instance_type: str, *, host: str = CURRENT_HOST, hosts: Sequence[str] = (CURRENT_HOST,)
                    ) -> dict[str, Any]:
    """``/opt/ml/config/resourceconfig.json`` of host ``host`` of ``hosts`` (SDK v2 local mode's fields)."""
    return {"current_host": host, "hosts": list(hosts), "network_interface_name": NETWORK_INTERFACE,
            "current_instance_type": instance_type}


def processing_job_config(record: Mapping[str, Any]) -> dict[str, Any]:
    """``/opt/ml/config/processingjobconfig.json``: the job's own description (SDK v2 local mode's fields)."""
    return {key: record[key] for key in CONFIG_KEYS if key in record}


def map_argument(value: str, job_dir: Path) -> str:
    """An entrypoint word or argument that is a path under /opt/ml, as the same place in the job's folder."""
    path = PurePosixPath(value)
    if path.is_absolute() and path.is_relative_to(OPT_ML):
        mapped = str(in_job(value, job_dir))
        return mapped + "/" if value.endswith("/") else mapped
    return value


def runproc_call(text: str) -> tuple[list[str], str] | None:
    """The command and script SDK v2's generated runproc.sh ends by running; None for any other script."""
    if not all(marker in text for marker in RUNPROC_MARKERS):
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    match = RUNPROC_CALL.match(lines[-1]) if lines else None
    if not match:
        return None
    return match.group("command").split(), match.group("script")

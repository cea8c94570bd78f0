"""From a Session and the command's options to a pipeline spec, its definition and its uploads."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from smtrain.core.errors import UsageError
from smtrain.planning.spec import DeploySpec, check_name
from smtrain.planning.steps import Upload

from . import requests
from .checks import MAX_SECONDS
from .export import export_definition
from .spec import Gate, PipelineSpec, check_gate, check_pipeline_name


@dataclass(frozen=True)
class Exported:
    spec: PipelineSpec
    definition: dict[str, Any]
    uploads: list[Upload]
    role: str


def pipeline_spec(session: Any, *, name: str, entry_point: str, fit: dict[str, Any], group: str, approve: bool,
                  deploy: dict[str, Any], gate: Gate, timeout_seconds: int, transform_input: str = "",
                  endpoint: bool = True) -> PipelineSpec:
    """Check every option the way `fit`, `register`, `deploy` and `transform` do, then gather them."""
    check_pipeline_name(name)
    check_numbers(timeout_seconds=timeout_seconds, deploy=deploy)
    if not fit.get("channels"):
        raise UsageError("no input channel given", where="--channel",
                         hint="give --channel train=s3://bucket/prefix/ (or a local folder with the local backend)")
    training = session.training_spec(entry_point, job_name=name, **fit)
    # Every execution reads one uploaded source: key it by content, so an unchanged source exports the same plan.
    training = replace(training, submission_id=source_digest(Path(training.source_dir), session.config.home))
    check_name(group, "model package group")
    endpoint_name = check_name(deploy.pop("endpoint_name", "") or name, "endpoint name")
    serving = DeploySpec(job_name=name, endpoint_name=endpoint_name, **deploy)
    return PipelineSpec(name=name, training=training, deploy=serving, group=group, approve=approve,
                        gate=check_gate(gate, list(training.metric_definitions)), timeout_seconds=timeout_seconds,
                        transform=batch_step(session, name, transform_input, endpoint, serving), endpoint=endpoint)


def batch_step(session: Any, name: str, transform_input: str, endpoint: bool, serving: DeploySpec) -> Any:
    """`--transform-input`'s batch step, as `smtrain transform` would run it at its defaults (None without it)."""
    from smtrain.planning.transform import TransformSpec

    if not transform_input:
        if not endpoint:
            raise UsageError("--no-endpoint leaves the pipeline nothing to do with its model", where="--no-endpoint",
                             hint="add --transform-input s3://bucket/prefix/ for a batch step instead of an endpoint")
        return None
    if not endpoint and serving.ttl_seconds:
        raise UsageError("--ttl expires an endpoint, and --no-endpoint makes none", where="--ttl",
                         hint="leave --ttl out, or drop --no-endpoint")
    if "://" not in transform_input:
        if not session.config.is_local:
            raise UsageError(f"--transform-input {transform_input} is not an s3:// URI", where="--transform-input",
                             hint="a pipeline on SageMaker reads its batch input from S3: give s3://bucket/prefix/")
        transform_input = Path(transform_input).resolve().as_uri()
    return TransformSpec(source=name, input_uri=transform_input, job_name=name, content_type="text/csv",
                         accept="text/csv", split_type="Line", strategy="MultiRecord", assemble_with="Line",
                         instance_type=serving.instance_type)


def source_digest(source_dir: Path, home: Path) -> str:
    """A short hash of the files `fit` would pack from ``source_dir`` (names and contents)."""
    import hashlib

    from smtrain.files.tarballs import scan_source

    scanned = scan_source(source_dir, home=home)
    digest = hashlib.sha256()
    for name in scanned.names:
        digest.update(name.encode() + b"\0" + scanned.files[name].read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def export(session: Any, spec: PipelineSpec, *, root: str = "") -> Exported:
    """The definition for the session's backend, and the uploads it expects done before it runs."""
    backend = session.backend
    config = session.planning_config()
    image = spec.training.image_uri or backend.image_uri(spec.training.framework_version or config.framework_version)
    root = root or backend.artifact_root()
    role = backend.role()
    definition = export_definition(spec, config, root=root, image_uri=image, role=role)
    plan = requests.fit_plan(spec, config, root=root, image_uri=image, role=role)
    uploads = requests.uploads(plan)
    if spec.evaluation is not None:
        from .evaluation import evaluate_plan

        uploads += requests.uploads(evaluate_plan(spec, config, root=root, image_uri=image, role=role))
    if spec.preprocess is not None:
        from .preprocess import preprocess_plan

        uploads += requests.uploads(preprocess_plan(spec, config, root=root, image_uri=image, role=role))
    return Exported(spec, definition, uploads, role)


def run_uploads(session: Any, uploads: list[Upload]) -> None:
    """Pack the source (and, for SageMaker, sync local channels) where the definition reads them."""
    from smtrain.execution.executor import run_upload

    for step in uploads:
        run_upload(step, session.backend, session.reporter)
        session.reporter.info(f"uploaded {Path(step.local_path or step.uri.rsplit('/', 1)[-1])} -> {step.uri}")


# Name parts that mark a secret (DB_PASSWORD, apiKey, AWS_SECRET_ACCESS_KEY); MONKEY or KEYBOARD are not.
SECRET_WORDS = {"TOKEN", "TOKENS", "SECRET", "SECRETS", "PASSWORD", "PASSWORDS", "PASSWD", "KEY", "KEYS",
                "CREDENTIAL", "CREDENTIALS"}
# A reference is not the secret: the script reads the value at run time with the job's role.
REFERENCE = re.compile(r"arn:aws[a-z-]*:(secretsmanager|ssm):\S+")


def looks_secret(name: str) -> bool:
    parts = re.split(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])", name)
    return any(part.upper() in SECRET_WORDS for part in parts)


def check_plain_env(environment: dict[str, str], *, allowed: bool) -> None:
    """An exported definition (and template) holds every --env value in plain text: refuse secret-looking ones."""
    if allowed:
        return
    for name, value in environment.items():
        if looks_secret(name) and not REFERENCE.fullmatch(str(value)):
            raise UsageError(
                f"--env {name} looks like a secret: its value would be written in plain text into the state "
                "machine's definition (and the CloudFormation template), where anyone who can read them sees it",
                where="--env",
                hint=f"store it in AWS Secrets Manager or SSM Parameter Store and pass its ARN instead "
                     f"(--env {name}=arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), which the script reads "
                     "at run time with boto3 (the job's role needs secretsmanager:GetSecretValue or "
                     "ssm:GetParameter); or add --allow-plain-env if the value is not secret")


def check_numbers(*, timeout_seconds: int, deploy: dict[str, Any]) -> None:
    """What the flags' ranges refuse, for callers of the Python API too."""
    limits = {"timeout_seconds": ("--timeout", timeout_seconds, 1), "instance_count":
              ("--serving-instance-count", deploy.get("instance_count", 1), 1),
              "ttl_seconds": ("--ttl", deploy.get("ttl_seconds", 0), 0),
              "workers": ("--workers", deploy.get("workers", 0), 0),
              "serverless_memory_mb": ("--serverless-memory", deploy.get("serverless_memory_mb", 0), 0)}
    for flag, value, low in limits.values():
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_SECONDS:
            raise UsageError(f"{flag} must be a whole number from {low} to {MAX_SECONDS}, not {value!r}", where=flag,
                             hint="--timeout 0 or --serving-instance-count 0 would export a pipeline AWS refuses")

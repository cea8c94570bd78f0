"""From a Session and the command's options to a pipeline spec, its definition and its uploads."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from smtrain.planning.spec import DeploySpec, check_name
from smtrain.planning.steps import Upload

from . import requests
from .export import export_definition
from .spec import Gate, PipelineSpec, check_gate, check_pipeline_name


@dataclass(frozen=True)
class Exported:
    spec: PipelineSpec
    definition: dict[str, Any]
    uploads: list[Upload]
    role: str


def pipeline_spec(session: Any, *, name: str, entry_point: str, fit: dict[str, Any], group: str, approve: bool,
                  deploy: dict[str, Any], gate: Gate, timeout_seconds: int) -> PipelineSpec:
    """Check every option the way `fit`, `register` and `deploy` do, then gather them."""
    check_pipeline_name(name)
    training = session.training_spec(entry_point, job_name=name, **fit)
    # Every execution reads one uploaded source: key it by content, so an unchanged source exports the same plan.
    training = replace(training, submission_id=source_digest(Path(training.source_dir), session.config.home))
    check_name(group, "model package group")
    endpoint = check_name(deploy.pop("endpoint_name", "") or name, "endpoint name")
    serving = DeploySpec(job_name=name, endpoint_name=endpoint, **deploy)
    return PipelineSpec(name=name, training=training, deploy=serving, group=group, approve=approve,
                        gate=check_gate(gate, list(training.metric_definitions)), timeout_seconds=timeout_seconds)


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
    return Exported(spec, definition, requests.uploads(plan), role)


def run_uploads(session: Any, uploads: list[Upload]) -> None:
    """Pack the source (and, for SageMaker, sync local channels) where the definition reads them."""
    from smtrain.execution.executor import run_upload

    for step in uploads:
        run_upload(step, session.backend, session.reporter)
        session.reporter.info(f"uploaded {Path(step.local_path)} -> {step.uri}")

"""What a run is compared with: another run, ``main`` or ``champion``.

- ``main``: the newest completed run made before this one, of a clean tree whose commit is on the main branch (the
  project's repository says so with ``git merge-base --is-ancestor``; without
  git, the branch recorded at submission).
- ``champion``: the run behind the newest Approved package of a model group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smtrain.core.config import Config
from smtrain.core.errors import NotFoundError, UsageError
from smtrain.runs import provenance, store
from smtrain.runs.record import Run

MAIN_BRANCHES = ("main", "master")
KEYWORDS = ("main", "champion")


def resolve(config: Config, baseline: str, current: Run, *, group: str = "", project: Path | None = None,
            client: Any = None) -> Run:
    if baseline == "main":
        return main_run(config, current, project or Path.cwd(), client=client)
    if baseline == "champion":
        return champion_run(config, group, client=client)
    return store.get_run(config, baseline, client=client)


def main_run(config: Config, current: Run, project: Path, *, client: Any = None) -> Run:
    source = "all" if current.backend == "sagemaker" else store.default_source(config)
    for run in store.list_runs(config, source, client=client)[0]:
        if run.name == current.name or run.created > current.created:  # the baseline as it was: reproducible
            continue
        if not run.git_commit or run.git_dirty or run.status != "Completed":
            continue
        if run.tags.get(provenance.GIT_BRANCH) in MAIN_BRANCHES or _on_main(project, run.git_commit):
            return store.get_run(config, run.name, source=run.backend, client=client)  # the full record
    raise NotFoundError("no completed run from a commit on the main branch", where="--baseline main",
                        hint="train once on main (CI does so on every merge), or give a run name as baseline")


def _on_main(project: Path, commit: str) -> bool:
    return any(provenance.is_ancestor(project, commit, branch) for branch in MAIN_BRANCHES)


def champion_run(config: Config, group: str, *, client: Any = None) -> Run:
    from smtrain.planning.model_package import JOB_METADATA_KEY

    if not group:
        raise UsageError("--baseline champion needs the model group", where="--group",
                         hint="add --group NAME (the group `smtrain register --group` used)")
    store.require_store(config)
    sagemaker = client or _sagemaker(config)
    with store.translating(f"model package group {group}"):
        listed = sagemaker.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="Approved",
                                               SortBy="CreationTime", SortOrder="Descending", MaxResults=1)
        summaries = listed.get("ModelPackageSummaryList", [])
        if not summaries:
            raise NotFoundError(f"no Approved package in model group {group}", where="--baseline champion",
                                hint=f"approve one (`smtrain register JOB --group {group} --approve`)")
        package = sagemaker.describe_model_package(ModelPackageName=summaries[0]["ModelPackageArn"])
    job = (package.get("CustomerMetadataProperties") or {}).get(JOB_METADATA_KEY, "")
    if not job:
        raise NotFoundError(f"the champion of {group} records no training job", where="--baseline champion",
                            hint="it was not registered by smtrain; give a run name as baseline")
    return store.get_run(config, job, client=client if not config.is_local else None)


def _sagemaker(config: Config) -> Any:
    if config.is_local:
        from smtrain.backends.local.store.reader import local_service

        return local_service(config.home, config.resolved_region())
    return store.sagemaker_client(config)

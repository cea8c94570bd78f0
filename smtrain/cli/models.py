"""Commands for the model registry: models, approve, reject."""

from __future__ import annotations

from typing import Any

import click

from smtrain.cli.common import common_options, emit_json, info, make_session


@click.command()
@click.argument("group", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the groups (or versions) as JSON on stdout.")
@common_options
def models(group: str | None, as_json: bool, **settings: Any) -> None:
    """List model package groups, or one group's versions with status and metrics."""
    from smtrain.api.models import list_groups, list_versions

    backend = make_session(settings, quiet=True).backend
    if group is None:
        groups = list_groups(backend)
        if as_json:
            emit_json(groups)
        elif not groups:
            info("no model package groups; register a job with `smtrain register JOB --group NAME`")
        for item in [] if as_json else groups:
            click.echo(f"{item['ModelPackageGroupName']}\t{item.get('ModelPackageGroupStatus', '')}")
        return
    versions = list_versions(backend, group)
    if as_json:
        emit_json(versions)
        return
    if not versions:
        info(f"model package group {group} has no versions")
    for version in versions:
        metrics = ", ".join([f"{k}={v:g}" for k, v in sorted(version["Metrics"].items())] +
                            [f"evaluation:{k}={v:g}" for k, v in sorted(version["EvaluationMetrics"].items())])
        click.echo(f"{group}/{version['ModelPackageVersion']}\t{version['ModelApprovalStatus']}\t"
                   f"{version.get('TrainingJobName', '')}\t{metrics}")


def approval_command(name: str, status: str, summary: str) -> click.Command:
    @click.command(name=name, help=summary)
    @click.argument("version", metavar="GROUP/VERSION")
    @click.option("--description", default="", help="Why: kept as the version's ApprovalDescription.")
    @click.option("--json", "as_json", is_flag=True, help="Print DescribeModelPackage as JSON on stdout.")
    @common_options
    def command(version: str, description: str, as_json: bool, **settings: Any) -> None:
        from smtrain.api.models import set_approval

        package = set_approval(make_session(settings, quiet=True).backend, version, status, description)
        if as_json:
            emit_json(package)
            return
        info(f"{version}: {package['ModelApprovalStatus']}")

    return command


approve = approval_command("approve", "Approved", "Approve a registered model version (GROUP/VERSION or ARN).")
reject = approval_command("reject", "Rejected", "Reject a registered model version (GROUP/VERSION or ARN).")

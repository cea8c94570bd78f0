"""``smtrain doctor``: check the local store; ``--rebuild`` rebuilds its index from the saved records."""

from __future__ import annotations

from typing import Any

import click

from smtrain.cli.common import common_options, emit_json, important, info


@click.command()
@click.option("--rebuild", is_flag=True,
              help="Rebuild state.db from the records saved in the job and endpoint folders (the old file is "
                   "kept beside it).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON on stdout.")
@common_options
def doctor(rebuild: bool, as_json: bool, **settings: Any) -> int:
    """Check the local store (state.db, saved records, permissions); exit 1 if something is wrong.

    With --backend sagemaker: say which role, bucket and region are used, and where each came from."""
    from smtrain.backends.local import doctor as store_doctor
    from smtrain.backends.local.store.home import LocalHome
    from smtrain.core.config import load_config

    config = load_config({k: v for k, v in settings.items() if v is not None})
    if not config.is_local:
        return sagemaker_doctor(config, as_json)
    home = LocalHome(config.home)
    if rebuild:
        report = store_doctor.rebuild(home)
        for path in report.moved_aside:
            info(f"kept the old index as {path}")
        for path, why in report.unreadable:
            info(f"skipped unreadable record {path}: {why}")
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.restored.items())) or "nothing"
        info(f"rebuilt {home.state_path}: {counts} ({report.from_old_index} row(s) read from the old index)")
    findings = store_doctor.check(home)
    if as_json:
        emit_json([{"problem": f.problem, "text": f.text} for f in findings])
    else:
        for finding in findings:
            if finding.problem:
                important(f"problem: {finding.text}")  # --quiet keeps the problems, drops the "ok" lines
            else:
                info(f"ok: {finding.text}")
    problems = [f for f in findings if f.problem]
    if problems and not as_json:
        important("hint: `smtrain doctor --rebuild` rebuilds the index from the saved records; "
                  "fix permissions as shown")
    return 1 if problems else 0


def sagemaker_doctor(config: Any, as_json: bool) -> int:
    """The role, bucket and region the sagemaker backend would use; exit 1 if one is not found."""
    from smtrain.aws.discovery import findings
    from smtrain.backends.sagemaker import SageMakerBackend

    found = findings(SageMakerBackend(config))
    if as_json:
        emit_json(found)
    else:
        for entry in found:
            if "problem" in entry:
                important(f"problem: {entry['name']}: {entry['problem']}")
            else:
                info(f"ok: {entry['name']}: {entry['value']} (from {entry['source']})")
    return 1 if any("problem" in entry for entry in found) else 0

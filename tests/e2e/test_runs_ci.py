"""CI: `smtrain ci init` writes workflows that pass a schema check; `smtrain report` on runs made here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from smtrain.runs.report import LIMIT_CHARS, MARKER
from tests.e2e.test_runs_cli import SCRIPT, fit, git, project, user

pytestmark = pytest.mark.e2e
__all__ = ["project"]  # the fixture, shared with test_runs_cli
INIT = ["--entry-point", "train.py", "--source-dir", "src", "--channel", "train=s3://bucket/data/train/",
        "--gate", "accuracy>=0.8", "--group", "penguins"]


def schema_check(path: Path, schema: str) -> None:
    """check-jsonschema's bundled (offline) schema for the CI provider; skipped if the tool is missing."""
    tool = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name("check-jsonschema"))
    if not Path(tool).exists():
        pytest.skip("check-jsonschema is not installed (dev extra)")
    done = subprocess.run([tool, "--builtin-schema", schema, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_github_workflow(project: Path) -> None:
    cli = user(project)
    assert cli("ci", "init", "github", *INIT).code == 0
    path = project / ".github" / "workflows" / "smtrain.yml"
    schema_check(path, "vendor.github-workflows")
    text = path.read_text()
    workflow = yaml.safe_load(text)
    train, report = workflow["jobs"]["train"], workflow["jobs"]["report"]
    assert "head.repo.full_name == github.repository" in train["if"]  # forks get no secrets: skipped
    assert report["needs"] == "train"
    for job in (train, report):
        assert job["permissions"]["id-token"] == "write"
        (aws,) = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
        assert aws["with"]["role-to-assume"] == "${{ vars.AWS_CI_ROLE_ARN }}"
    fit_step = next(s for s in train["steps"] if s.get("id") == "fit")
    assert "--no-wait" in fit_step["run"] and 'smtrain fit --entry-point "$TRAIN_ENTRY_POINT"' in fit_step["run"]
    assert workflow["env"] | {"TRAIN_ENTRY_POINT": "train.py", "TRAIN_SOURCE_DIR": "src",  # the settings, as data
                              "TRAIN_CHANNEL": "train=s3://bucket/data/train/", "RELEASE_GATE": "accuracy>=0.8",
                              "MODEL_GROUP": "penguins", "RELEASE_BRANCH": "main"} == workflow["env"]
    runs = "\n".join(s.get("run", "") + str(s.get("with", {}).get("script", "")) for s in report["steps"])
    assert 'smtrain report "$JOB" --baseline main --gate "$RELEASE_GATE"' in runs
    assert MARKER in runs and "updateComment" in runs and "GITHUB_STEP_SUMMARY" in runs
    assert 'smtrain register "$JOB" --group "$MODEL_GROUP" --approve' in runs
    assert "secrets." not in text and "set -x" not in text and "aws-access-key-id" not in text

    again = cli("ci", "init", "github", *INIT)
    assert again.code == 2 and "--force" in again.err
    assert cli("ci", "init", "github", *INIT, "--force").code == 0


def test_gitlab_pipeline(project: Path) -> None:
    assert user(project)("ci", "init", "gitlab", *INIT).code == 0
    path = project / ".gitlab-ci.yml"
    schema_check(path, "vendor.gitlab-ci")
    pipeline = yaml.safe_load(path.read_text())
    assert pipeline[".smtrain"]["id_tokens"]["AWS_ID_TOKEN"]["aud"] == "sts.amazonaws.com"
    assert any("CI_MERGE_REQUEST_SOURCE_PROJECT_ID == $CI_PROJECT_ID" in r["if"] for r in pipeline[".smtrain"]["rules"])
    assert "--no-wait" in " ".join(pipeline["train"]["script"])


def test_ci_init_refuses_a_local_channel(project: Path) -> None:
    result = user(project)("ci", "init", "github", *INIT[:4], "--channel", "train=data", *INIT[6:])
    assert result.code == 2 and "s3://" in result.err
    assert not (project / ".github").exists()


def test_report_against_runs_made_here(project: Path) -> None:
    cli = user(project / "src")
    fit(cli, "base", "--hp", "accuracy=0.8")
    (project / "src" / "big.txt").write_text("line\n" * 30_000)  # a change too large to show in full
    (project / "src" / "train.py").write_text(SCRIPT + "# better\n")
    git(project, "add", ".")
    git(project, "commit", "-qm", "better")
    fit(cli, "candidate", "--hp", "accuracy=0.9")

    passed = cli("report", "candidate", "--baseline", "main", "--gate", "accuracy>=0.85")
    assert passed.code == 0, passed.err
    text = passed.out
    assert text.startswith(MARKER) and "candidate vs base" in text and "gate passed" in text
    assert "| accuracy | 0.8 | 0.9 | +0.1 | ▲ |" in text
    assert "<details><summary>Source diff</summary>" in text and "cut to fit" in text
    assert len(text) < LIMIT_CHARS < 65_536

    failed = cli("report", "candidate", "--baseline", "base", "--gate", "accuracy>=0.95", "--out", "r.md")
    assert failed.code == 1 and "gate FAILED" in failed.err
    assert "gate FAILED" in (project / "src" / "r.md").read_text()
    missing = cli("report", "candidate", "--gate", "f1>=0.5", "--baseline", "base")  # a metric never logged
    assert missing.code == 1 and "(this run: missing)" in missing.out

    first = cli("report", "base", "--baseline", "main")  # nothing older on main: a report without deltas
    assert first.code == 0 and "No baseline" in first.out

"""Every name that becomes a path is checked against its pattern first (B3): a pipeline's name from a flag or
from a definition's Comment, an execution's name. No pipeline command reads or writes outside the home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import Cli, cli, workdir  # noqa: F401  (fixtures)

GOLDEN = json.loads((REPO / "tests" / "golden" / "pipeline_penguins.asl.json").read_text())


def files_outside_home(root: Path, home: Path) -> set[Path]:
    return {p for p in root.rglob("*") if home not in p.parents and p != home}


def assert_refused(cli: Cli, argv: list[str], message: str) -> None:  # noqa: F811
    home = Path(cli.env["SMTRAIN_HOME"])
    root = cli.cwd.parent  # the test's own tmp folder: the project, the home and anything beside them
    before = files_outside_home(root, home)
    result = cli(*argv)
    assert result.code == 2, result.err
    assert message in result.err, result.err
    assert "unexpected" not in result.err and "Traceback" not in result.err
    assert files_outside_home(root, home) == before  # nothing written outside the home
    assert not (home / "pipelines").exists() or not list((home / "pipelines").rglob("*.json"))


@pytest.mark.parametrize("name", ["../../../../tmp/x", "/tmp/smtrain-escape", "..", "a/b", "UPPER", "x" * 17, ""])
def test_a_pipeline_name_in_a_definitions_comment_is_checked(cli: Cli, workdir: Path, name: str) -> None:  # noqa: F811
    definition = dict(GOLDEN, Comment=f"smtrain pipeline {name}; plan sha256:0123456789abcdef")
    path = workdir / "named.asl.json"
    path.write_text(json.dumps(definition))
    assert_refused(cli, ["pipeline", "run", "--local", "--definition", str(path), "--execution-name", "e1"],
                   f"{path}: Comment: pipeline name {name!r} is not valid")
    assert not Path("/tmp/smtrain-escape").exists() and not Path("/tmp/x").exists()


@pytest.mark.parametrize("name", ["../..", "/etc", "../outside", "a/../../b"])
def test_status_refuses_a_pipeline_name_that_is_a_path(cli: Cli, workdir: Path, name: str) -> None:  # noqa: F811
    outside = workdir.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "planted.json").write_text('{"name": "planted", "status": "SUCCEEDED", "plan": "", "states": {}}')
    assert_refused(cli, ["pipeline", "status", "--name", name], f"pipeline name {name!r} is not valid")


@pytest.mark.parametrize("execution", ["../../planted", "/tmp/x", "a b", "x" * 50, "lead-", "a--b", "a_b"])
def test_execution_names_are_checked(cli: Cli, workdir: Path, execution: str) -> None:  # noqa: F811
    path = workdir / "ok.asl.json"
    path.write_text(json.dumps(GOLDEN))
    assert_refused(cli, ["pipeline", "run", "--local", "--definition", str(path), "--execution-name", execution],
                   f"--execution-name: execution name {execution!r} is not valid")
    assert_refused(cli, ["pipeline", "status", "--name", "penguins", execution],
                   f"EXECUTION: execution name {execution!r} is not valid")
    assert_refused(cli, ["pipeline", "start", "--backend", "sagemaker", "--region", "us-east-1", "--name", "penguins",
                         "--execution-name", execution], f"execution name {execution!r} is not valid")


def test_start_refuses_a_pipeline_name_that_is_a_path(cli: Cli) -> None:  # noqa: F811
    assert_refused(cli, ["pipeline", "start", "--backend", "sagemaker", "--region", "us-east-1", "--name", "../x"],
                   "pipeline name '../x' is not valid")

"""End-to-end tests run the installed `smtrain` command as a user does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

SMTRAIN = shutil.which("smtrain") or str(Path(sys.executable).with_name("smtrain"))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        """One JSON record per line (`smtrain ls --json`)."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@dataclass
class Cli:
    cwd: Path
    env: dict[str, str]

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 180) -> Result:
        done = subprocess.run(
            [SMTRAIN, *args], cwd=self.cwd, env=self.env, input=stdin, capture_output=True, text=True,
            timeout=timeout,
        )
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A project folder with a copy of the example entry point."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "entry_points", project / "entry_points")
    return project


@pytest.fixture
def cli(workdir: Path) -> Iterator[Cli]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env["SMTRAIN_HOME"] = str(workdir / ".smtrain")
    runner = Cli(workdir, env)
    yield runner
    runner("teardown", "--all")

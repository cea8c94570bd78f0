"""Every code block in the README runs as written (in the manner of sqlite-utils' documentation tests).

A block runs in a fresh copy of the project with a clean environment: bash blocks
with ``bash -euo pipefail``, Python blocks with this interpreter. A block preceded
by ``<!-- readme-test: skip: WHY -->`` is not run here and must say why (where it
is covered instead); ``<!-- readme-test: sagemaker -->`` runs against a moto server.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

BLOCK = re.compile(
    r"(?:<!-- readme-test: (?P<mode>[^>]*?) -->\n)?^```(?P<lang>bash|python)\n(?P<code>.*?)^```$", re.S | re.M
)
README = REPO / "README.md"


def blocks() -> list[tuple[int, str, str, str]]:
    text = README.read_text(encoding="utf-8")
    return [(text[: m.start("code")].count("\n") + 1, m["mode"] or "local", m["lang"], m["code"])
            for m in BLOCK.finditer(text)]


def test_every_block_is_run_or_says_why_not() -> None:
    found = blocks()
    assert len(found) >= 5
    for line, mode, _, _ in found:
        assert mode in ("local", "sagemaker") or re.fullmatch(r"skip: .{10,}", mode), f"README.md:{line}: {mode!r}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(REPO / "entry_points", root / "entry_points")
    return root


def environment(project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(project.parent)
    return env


@pytest.mark.parametrize(("line", "mode", "lang", "code"), [b for b in blocks() if b[1] == "local"],
                         ids=lambda value: f"README.md:{value}" if isinstance(value, int) else "")
def test_local_block_runs_as_written(project: Path, line: int, mode: str, lang: str, code: str) -> None:
    argv = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    env = environment(project)
    try:
        done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run([shutil.which("smtrain", path=env["PATH"]) or "smtrain", "teardown", "--all"],
                       cwd=project, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr

"""`smtrain init` and `smtrain quickstart` outside any checkout: every `next:` hint runs where it is printed."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def user(tmp_path: Path) -> Iterator[Cli]:
    """A new user's shell in an empty folder under their home: no SMTRAIN_HOME, no checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env.update(HOME=str(tmp_path), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    folder = tmp_path / "work"
    folder.mkdir()
    shell = Cli(folder, env)
    yield shell
    for store in tmp_path.rglob(".smtrain"):
        Cli(store.parent, env)("teardown", "--all")


def hints(stderr: str) -> list[str]:
    """The commands under the last `next:`, one per line, without their comments (continuations joined)."""
    block = stderr.rsplit("next:", 1)[1].replace("\\\n", " ")
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip().startswith(("cd ", "smtrain",
            "python", "$EDITOR", "jupyter"))]


def run_hint(user: Cli, cwd: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=cwd, env=user.env, capture_output=True,
                          text=True, timeout=600)


def test_init_writes_a_working_project_whose_hints_run(user: Cli) -> None:
    done = user("init", "demo")
    assert done.code == 0, done.err
    demo = user.cwd / "demo"
    written = {str(p.relative_to(demo)) for p in demo.rglob("*") if p.is_file()}
    assert written == {"entry_points/penguins.py", "notebooks/penguins.ipynb", "tests/test_penguins.py",
                       "smtrain.toml", ".env.example", ".gitignore"}
    ignored = (demo / ".gitignore").read_text().splitlines()
    assert ".smtrain/" in ignored and ".env" in ignored
    json.loads((demo / "notebooks" / "penguins.ipynb").read_text())

    steps = hints(done.err)
    assert steps[0] == "cd demo"
    # $EDITOR and jupyter open an editor and a server: what they name exists; the notebook itself runs in
    # tests/e2e/test_notebook.py, identical to this one (tests/unit/test_template.py).
    for step in steps[1:]:
        if step.startswith(("$EDITOR", "jupyter")):
            assert (demo / shlex.split(step)[-1]).is_file() or (demo / shlex.split(step)[1]).is_file(), step
            continue
        ran = run_hint(user, demo, step)
        assert ran.returncode == 0, f"{step}:\n{ran.stdout}\n{ran.stderr}"
        if step == "smtrain quickstart":
            assert "test accuracy:" in ran.stderr and "packaged example" not in ran.stderr
            for later in hints(ran.stderr):
                if later.startswith("smtrain"):
                    again = run_hint(user, demo, later)
                    assert again.returncode == 0, f"{later}:\n{again.stderr}"
    store = demo / ".smtrain"
    assert store.is_dir() and not [p for p in store.rglob("*") if p.stat().st_mode & 0o077]  # owner only
    assert stat.S_IMODE(store.stat().st_mode) == 0o700


def test_init_overwrites_nothing_without_force(user: Cli) -> None:
    assert user("init").code == 0  # the current folder
    script = user.cwd / "entry_points" / "penguins.py"
    script.write_text("# mine\n")
    (user.cwd / ".gitignore").unlink()

    refused = user("init")
    assert refused.code == 2, refused.err
    assert "entry_points/penguins.py" in refused.err and "--force" in refused.err and "Traceback" not in refused.err
    assert script.read_text() == "# mine\n"
    assert not (user.cwd / ".gitignore").exists()  # nothing half-written
    assert not [p for p in user.cwd.iterdir() if p.name.startswith(".smtrain-init")]

    forced = user("init", "--force", "--json")
    assert forced.code == 0, forced.err
    assert "entry_points/penguins.py" in forced.json()["Files"]
    assert script.read_text() != "# mine\n" and (user.cwd / ".gitignore").is_file()


def test_quickstart_in_an_empty_folder_uses_the_packaged_example(user: Cli) -> None:
    done = user("quickstart")
    assert done.code == 0, done.err
    assert "using the packaged example" in done.err and "smtrain init" in done.err
    assert not (user.cwd / "entry_points").exists()  # it says where the example is, and writes none of it here
    for step in hints(done.err):
        command = step.split(" && $EDITOR", 1)[0]  # `smtrain init . && $EDITOR ...`: the editor is the user's
        ran = run_hint(user, user.cwd, command)
        assert ran.returncode == 0, f"{command}:\n{ran.stdout}\n{ran.stderr}"
    assert (user.cwd / "entry_points" / "penguins.py").is_file()  # `smtrain init .` ran


def test_prepares_next_hint_runs_in_an_empty_folder(user: Cli) -> None:
    done = user("prepare")
    assert done.code == 0, done.err
    store = user.cwd / ".smtrain"
    assert stat.S_IMODE(store.stat().st_mode) == 0o700  # prepare first: owner-only already
    assert not [p for p in store.rglob("*") if p.stat().st_mode & 0o077]
    (step,) = [line for line in done.err.splitlines() if line.startswith("next: ")]
    fit = user(*shlex.split(step.removeprefix("next: smtrain ")), "--job-name", "from-the-hint")
    assert fit.code == 0, fit.err

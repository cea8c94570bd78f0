"""Links and secrets through the CLI: `smtrain plan fit` and `smtrain fit` on a source dir
full of links, with SMTRAIN_HOME inside it, and a script that leaves links in model/."""

from __future__ import annotations

import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli

SECRET = "AWS_SECRET_ACCESS_KEY=do-not-ship"

TRAIN = '''
import os
import subprocess
model, output = os.environ["SM_MODEL_DIR"], os.environ["SM_OUTPUT_DATA_DIR"]
open(os.path.join(model, "model.txt"), "w").write("weights")
open(os.path.join(model, ".env"), "w").write("TOKEN=do-not-ship")
os.symlink("/etc/passwd", os.path.join(model, "passwd"))
os.symlink("model.txt", os.path.join(model, "alias.txt"))
os.symlink(".env", os.path.join(model, "settings.txt"))
os.symlink("..", os.path.join(model, "parent"))
os.symlink("/etc/passwd", os.path.join(output, "passwd"))
print("trained")
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    src = root / "src"
    (root / "data").mkdir(parents=True)
    (root / "data" / "train.csv").write_text("1,2\n")
    (root / "outside.txt").write_text("outside the source dir")
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    (src / "helper.txt").write_text("helper")
    (src / ".env").write_text(SECRET)
    for name, target in {"passwd": "/etc/passwd", "up.txt": "../outside.txt", "config.txt": ".env",
                         "alias.txt": "helper.txt"}.items():
        os.symlink(target, src / name)
    return root


@pytest.fixture
def cli(project: Path) -> Iterator[Cli]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env["SMTRAIN_HOME"] = str(project / "src" / "runs")  # inside the source dir, not named .smtrain
    runner = Cli(project, env)
    yield runner
    runner("teardown", "--all")


FIT = ["--entry-point", "train.py", "--source-dir", "src", "--channel", "train=data"]


def tar_contents(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        assert all(m.isfile() for m in tar.getmembers())
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_fit_leaves_links_out_of_every_archive_with_a_warning(cli: Cli, project: Path) -> None:
    src = project / "src"
    plan = cli("plan", "fit", *FIT)
    assert plan.code == 0, plan.err
    assert plan.json()  # stdout stays the plan's JSON; the listing goes to stderr
    assert "left out passwd: link to /etc/passwd, outside" in plan.err
    assert "left out up.txt: link to ../outside.txt, outside" in plan.err
    assert "left out config.txt: link to .env, which is left out: secret" in plan.err
    assert "left out .env: secret" in plan.err

    fit = cli("fit", *FIT, "--job-name", "linky", "--json")

    assert fit.code == 0, fit.err
    assert fit.json()["TrainingJobStatus"] == "Completed"
    assert f"warning: left out {src.resolve() / 'passwd'}: link to /etc/passwd" in fit.err
    assert f"warning: left out {src.resolve() / 'config.txt'}: link to .env" in fit.err
    home = src / "runs"
    [source_archive] = list(home.rglob("sourcedir.tar.gz"))
    assert tar_contents(source_archive) == {"alias.txt": b"helper", "helper.txt": b"helper",
                                            "train.py": TRAIN.encode()}
    model = Path(fit.json()["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("file://"))
    assert tar_contents(model) == {"alias.txt": b"weights", "model.txt": b"weights"}
    assert tar_contents(model.with_name("output.tar.gz")) == {}
    log = cli("logs", "linky").out  # the job's log goes to stdout
    assert "left out" in log and "passwd: link to /etc/passwd" in log
    assert "settings.txt: link to .env, which is left out: secret" in log
    assert "parent: link to .., outside" in log

    again = cli("plan", "fit", *FIT)
    assert "left out runs/: smtrain home (SMTRAIN_HOME)" in again.err


def test_fit_verbose_lists_what_is_left_out(cli: Cli, project: Path) -> None:
    (project / "src" / ".smtrainignore").write_text("helper.txt\n")

    fit = cli("fit", "--entry-point", "missing.py", "--source-dir", "src", "--channel", "train=data", "--verbose")

    assert fit.code == 2
    assert "left out helper.txt: ignored by .smtrainignore:1 (helper.txt)" in fit.err
    assert "left out passwd: link to /etc/passwd" in fit.err
    assert "entry point 'missing.py' not found" in fit.err
    assert "Traceback" not in fit.err and "unexpected" not in fit.err


def test_a_bad_ignore_pattern_is_a_usage_error(cli: Cli, project: Path) -> None:
    (project / "src" / ".smtrainignore").write_text("ok\n# fine\n!\n")

    result = cli("plan", "fit", *FIT)

    assert result.code == 2
    assert f"{(project / 'src').resolve() / '.smtrainignore'}:3: invalid ignore pattern '!'" in result.err
    assert "Traceback" not in result.err and "unexpected" not in result.err


@pytest.mark.parametrize("in_git", [False, True], ids=["pathspec", "git"])
@pytest.mark.parametrize("ignore_file", [".gitignore", ".smtrainignore"])
def test_a_bad_character_range_names_the_file_and_line(cli: Cli, project: Path, ignore_file: str,
                                                      in_git: bool) -> None:
    (project / "src" / ignore_file).write_text("*.pyc\n[z-a]\n")
    if in_git:
        subprocess.run(["git", "init", "-q", str(project)], check=True, timeout=30)

    result = cli("plan", "fit", *FIT)

    assert "Traceback" not in result.err and "unexpected" not in result.err
    if in_git and ignore_file == ".gitignore":  # git reads its own files its own way: no error
        assert result.code == 0, result.err
    else:
        assert result.code == 2
        assert f"{(project / 'src').resolve() / ignore_file}:2: invalid ignore pattern '[z-a]'" in result.err

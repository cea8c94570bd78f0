"""``checkout --model`` never silently replaces the source's own ``model/`` files.

Before: a source with a ``model/`` folder (a ``model/config.json`` the code reads, say) was checked out with
the trained model extracted over it, same-named files replaced without a word. Now it is refused, and
``--force`` puts the run's model there instead, saying so in its help. Through the CLI as a user runs it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli

SCRIPT = """\
import os
open(os.path.join(os.environ["SM_MODEL_DIR"], "config.json"), "w").write('{"trained": true}')
"""


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    project = tmp_path / "project"
    (project / "src" / "model").mkdir(parents=True)
    (project / "src" / "train.py").write_text(SCRIPT)
    (project / "src" / "model" / "config.json").write_text('{"source": true}')
    (project / "src" / "model" / "labels.txt").write_text("a\nb\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env["SMTRAIN_HOME"] = str(project / ".smtrain")
    cli = Cli(project, env)
    fit = cli("fit", "--entry-point", "train.py", "--source-dir", "src", "--channel", "train=src",
              "--job-name", "own-model")
    assert fit.code == 0, fit.err
    return cli


def test_checkout_model_refuses_to_write_over_the_sources_model_folder(cli: Cli) -> None:
    result = cli("checkout", "own-model", "out", "--model")
    assert result.code == 2, result.err
    assert result.err == (
        "error: checkout --model: the source of own-model has its own model/ (config.json, labels.txt), which "
        "--model would write over\n  hint: check out without --model to keep the source's model/, or add --force "
        "to put the run's model there instead (the source's model/ is then left out); nothing was written\n")
    assert not (cli.cwd / "out").exists()
    assert [p.name for p in cli.cwd.iterdir() if p.name.startswith(".out")] == []  # no scratch left behind

    plain = cli("checkout", "own-model", "plain")
    assert plain.code == 0, plain.err
    assert (cli.cwd / "plain" / "model" / "config.json").read_text() == '{"source": true}'


def test_checkout_model_with_force_holds_the_runs_model_alone(cli: Cli) -> None:
    result = cli("checkout", "own-model", "forced", "--model", "--force")
    assert result.code == 0, result.err
    model = cli.cwd / "forced" / "model"
    assert sorted(p.name for p in model.iterdir()) == ["config.json"]
    assert (model / "config.json").read_text() == '{"trained": true}'
    assert (cli.cwd / "forced" / "train.py").is_file()
    source = cli.cwd / "src" / "model"  # the user's own folder is untouched
    assert sorted(p.name for p in source.iterdir()) == ["config.json", "labels.txt"]


def test_checkout_model_of_a_source_without_model_folder_needs_no_force(cli: Cli) -> None:
    (cli.cwd / "src2").mkdir()
    (cli.cwd / "src2" / "train.py").write_text(SCRIPT)
    fit = cli("fit", "--entry-point", "train.py", "--source-dir", "src2", "--channel", "train=src2",
              "--job-name", "plain-model")
    assert fit.code == 0, fit.err
    result = cli("checkout", "plain-model", "out2", "--model")
    assert result.code == 0, result.err
    assert (cli.cwd / "out2" / "model" / "config.json").read_text() == '{"trained": true}'

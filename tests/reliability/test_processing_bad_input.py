"""Bad processing input is refused before anything runs: a clear CLI error (exit 2, where, what, what to do,
no traceback) and, from the Python API, an ArgumentError naming the argument. Nothing is written: no job
folder, no upload, no file beside the project.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtrain.core.errors import ArgumentError
from tests.conftest import REPO
from tests.e2e.conftest import Cli

ALLOWED_NEW = {"state.db", "state.db-wal", "state.db-shm", ".smtrain"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("processing-input")
    project = base / "project"
    shutil.copytree(REPO / "entry_points", project / "entry_points")
    (project / "raw").mkdir(parents=True)
    (project / "raw" / "penguins.csv").write_text("species,bill\nAdelie,1\n")
    return base


@pytest.fixture
def cli(root: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env["SMTRAIN_HOME"] = str(root / "project" / ".smtrain")
    return Cli(root / "project", env)


@pytest.fixture
def unchanged(root: Path) -> Iterator[None]:
    def snapshot() -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*")}

    before, beside = snapshot(), set(os.listdir(root.parent))
    yield
    new = {p for p in snapshot() - before if Path(p).name not in ALLOWED_NEW}
    assert new == set(), f"written: {sorted(new)}"
    assert set(os.listdir(root.parent)) == beside


PROCESS = ["process", "--code", "entry_points/penguins_preprocess.py", "--input", "raw=raw", "--no-wait"]

# (id, extra flags, the flag named, words the message must contain)
CASES = [
    ("destination-outside", ["--input", "more=raw:/tmp/more"], "--input more",
     "'/tmp/more' is not under /opt/ml/processing/"),
    ("destination-processing-root", ["--input", "more=raw:/opt/ml/processing"], "--input more", "is not under"),
    ("destination-traversal", ["--input", "more=raw:/opt/ml/processing/../code"], "--input more", "is not under"),
    ("output-outside", ["--output", "train=/opt/ml/model"], "--output train", "'/opt/ml/model' is not under"),
    ("one-destination-twice", ["--input", "again=raw:/opt/ml/processing/input/raw"], "--input again",
     "inputs 'raw' and 'again' have one destination"),
    ("output-name-twice", ["--output", "train=/opt/ml/processing/a", "--output", "train=/opt/ml/processing/b"],
     "--output train", "output name 'train' is used twice"),
    ("input-name-twice", ["--input", "raw=raw:/opt/ml/processing/other"], "--input raw", "used twice"),
    ("input-named-code", ["--input", "code=raw:/opt/ml/processing/c"], "--input code", "is the job's own"),
    ("instance-count-0", ["--instance-count", "0"], "--instance-count", "instance count must be"),
    ("instance-count-negative", ["--instance-count", "-2"], "--instance-count", "at least 1, got -2"),
    ("input-missing", ["--input", "gone=nowhere"], "--input gone", "path 'nowhere' does not exist"),
]


@pytest.mark.parametrize(("extra", "where", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.usefixtures("unchanged")
def test_the_cli_refuses_before_anything_runs(cli: Cli, extra: list[str], where: str, says: str) -> None:
    result = cli(*PROCESS, *extra)
    assert result.code == 2, result.err
    assert says in result.err and where in result.err
    assert "Traceback" not in result.err


@pytest.mark.usefixtures("unchanged")
def test_a_missing_code_file_is_refused(cli: Cli) -> None:
    result = cli("process", "--code", "entry_points/penguins_prepocess.py", "--no-wait")
    assert result.code == 2 and "code file 'entry_points/penguins_prepocess.py' not found" in result.err
    assert "--code" in result.err and "Traceback" not in result.err
    result = cli("process", "--source-dir", "entry_points", "--code", "nope.py", "--no-wait")
    assert result.code == 2 and "relative to --source-dir" in result.err


def test_a_request_the_local_backend_refuses_leaves_no_upload_behind(cli: Cli, root: Path) -> None:
    before = {p for p in root.rglob("*") if p.is_file()}
    result = cli(*PROCESS, "--image-uri", "123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1")
    assert result.code == 1 and "needs Docker" in result.err and "Traceback" not in result.err
    new = {p.name for p in root.rglob("*") if p.is_file()} - {p.name for p in before}
    assert new <= ALLOWED_NEW | {"state.db.lock"}, new  # the store opened; the uploaded code went with the name


@pytest.mark.usefixtures("unchanged")
def test_plan_process_refuses_the_same(cli: Cli) -> None:
    result = cli("plan", "process", "--code", "entry_points/penguins_preprocess.py", "--input", "a=raw:/tmp/a")
    assert result.code == 2 and "is not under /opt/ml/processing/" in result.err


API_CASES = [
    (dict(inputs={"raw": "raw:/tmp/raw"}), "inputs", "inputs['raw']"),
    (dict(inputs={"a": "raw:/opt/ml/processing/x", "b": "raw:/opt/ml/processing/x"}), "inputs", "one destination"),
    (dict(outputs=["train=/opt/ml/processing/a", "train=/opt/ml/processing/b"]), "outputs", "used twice"),
    (dict(instance_count=0), "instance_count", "instance count must be"),
]


@pytest.mark.parametrize(("kwargs", "argument", "says"), API_CASES)
@pytest.mark.usefixtures("unchanged")
def test_the_api_raises_a_typed_error_naming_its_argument(root: Path, kwargs: dict, argument: str, says: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import smtrain

    monkeypatch.chdir(root / "project")
    sm = smtrain.Session(home=str(root / "project" / ".smtrain"), quiet=True)
    with pytest.raises(ArgumentError) as caught:
        sm.process("entry_points/penguins_preprocess.py", wait=False, **kwargs)
    assert caught.value.argument == argument
    assert says in str(caught.value)
    with pytest.raises(ArgumentError) as missing:
        sm.process("entry_points/nope.py", wait=False)
    assert missing.value.argument == "code"

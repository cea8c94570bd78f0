"""entry_points/penguins_preprocess.py and penguins_evaluate.py: preprocess -> train -> evaluate, as scripts."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from smtrain.planning.evaluation import metrics_of

REPO = Path(__file__).resolve().parents[2]
ENTRY = REPO / "entry_points"


def run(script: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ENTRY / script), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from palmerpenguins import load_penguins

    root = tmp_path_factory.mktemp("penguins")
    (root / "input").mkdir()
    load_penguins().to_csv(root / "input" / "penguins.csv", index=False)
    done = run("penguins_preprocess.py", "--input-dir", root / "input",
               "--train-dir", root / "train", "--test-dir", root / "test")
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def model_archive(splits: Path) -> Path:
    model = splits / "model"
    done = run("penguins.py", "--train", splits / "train", "--model-dir", model)
    assert done.returncode == 0, done.stderr
    archive_dir = splits / "artifact"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "model.tar.gz", "w:gz") as tar:  # as SageMaker packs /opt/ml/model
        for path in model.iterdir():
            tar.add(path, arcname=path.name)
    return archive_dir


def test_preprocess_writes_stratified_train_and_test_splits(splits: Path) -> None:
    X_train, y_train = pd.read_csv(splits / "train/X_train.csv"), pd.read_csv(splits / "train/y_train.csv")
    X_test, y_test = pd.read_csv(splits / "test/X_test.csv"), pd.read_csv(splits / "test/y_test.csv")
    assert list(y_train.columns) == ["species"] and "species" not in X_train.columns
    assert len(X_train) == len(y_train) and len(X_test) == len(y_test)
    assert 0.15 < len(X_test) / (len(X_train) + len(X_test)) < 0.25
    assert set(y_test["species"]) == set(y_train["species"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert not X_train.isna().any().any()


def test_preprocess_without_csv_says_what_input_it_wants(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    done = run("penguins_preprocess.py", "--input-dir", tmp_path / "input",
               "--train-dir", tmp_path / "train", "--test-dir", tmp_path / "test")
    assert done.returncode != 0 and "no .csv file under" in done.stderr
    assert not (tmp_path / "train").exists()


def test_evaluate_writes_a_model_quality_report(splits: Path, model_archive: Path, tmp_path: Path) -> None:
    done = run("penguins_evaluate.py", "--model-dir", model_archive, "--test-dir", splits / "test",
               "--output-dir", tmp_path / "evaluation")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    accuracy = report["multiclass_classification_metrics"]["accuracy"]
    assert set(accuracy) == {"value", "standard_deviation"}
    assert metrics_of(report)["accuracy"] > 0.9
    assert f"test_accuracy={accuracy['value']:.6f}" in done.stdout


def test_a_model_that_trains_well_but_tests_badly_scores_low(splits: Path, model_archive: Path, tmp_path: Path) -> None:
    shifted = tmp_path / "shifted"
    shifted.mkdir()
    (shifted / "X_test.csv").write_bytes((splits / "test/X_test.csv").read_bytes())
    labels = pd.read_csv(splits / "test/y_test.csv")
    rename = {"Adelie": "Gentoo", "Gentoo": "Chinstrap", "Chinstrap": "Adelie"}
    labels["species"] = labels["species"].map(rename)
    labels.to_csv(shifted / "y_test.csv", index=False)
    done = run("penguins_evaluate.py", "--model-dir", model_archive, "--test-dir", shifted,
               "--output-dir", tmp_path / "evaluation")
    assert done.returncode == 0, done.stderr
    assert metrics_of(json.loads((tmp_path / "evaluation/evaluation.json").read_text()))["accuracy"] < 0.1


def test_evaluate_without_a_model_says_which_input_is_missing(splits: Path, tmp_path: Path) -> None:
    done = run("penguins_evaluate.py", "--model-dir", tmp_path, "--test-dir", splits / "test",
               "--output-dir", tmp_path / "evaluation")
    assert done.returncode != 0 and "no model.tar.gz" in done.stderr
    assert not (tmp_path / "evaluation").exists()


def test_evaluate_never_unpacks_outside_its_scratch_folder(model_archive: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("penguins_evaluate", ENTRY / "penguins_evaluate.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    evil = tmp_path / "evil"
    evil.mkdir()
    with tarfile.open(evil / "model.tar.gz", "w:gz") as tar, tarfile.open(model_archive / "model.tar.gz") as good:
        for member in good.getmembers():
            tar.addfile(member, good.extractfile(member))
        for name, kind in (("../../escaped.txt", tarfile.REGTYPE), ("link", tarfile.SYMTYPE)):
            entry = tarfile.TarInfo(name)
            entry.type, entry.linkname, entry.size = kind, "/etc/passwd" if kind == tarfile.SYMTYPE else "", 1
            tar.addfile(entry, io.BytesIO(b"x") if kind == tarfile.REGTYPE else None)
    scratch = tmp_path / "a" / "b" / "scratch"
    scratch.mkdir(parents=True)
    assert script.unpack_model(evil, scratch) == scratch
    assert (scratch / "model.joblib").is_file()
    assert not (tmp_path / "a" / "escaped.txt").exists() and not (scratch / "link").exists()

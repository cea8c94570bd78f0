"""The entry point trains as SageMaker runs it, and serves through its model_fn / input_fn / predict_fn /
output_fn. Run: python -m pytest -q tests"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "entry_points" / "penguins.py"
ADELIE = "Adelie,Torgersen,39.1,18.7,181.0,3750.0"


def load_script():
    spec = importlib.util.spec_from_file_location("penguins_entry_point", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train as the SageMaker toolkit runs the script: hyperparameters as ``--key value``."""
    from smtrain.project.data import prepare

    data = prepare(out_dir=tmp_path_factory.mktemp("data"))
    model_dir = tmp_path_factory.mktemp("model")
    argv = [sys.executable, str(SCRIPT), "--train", str(data.train_dir), "--model-dir", str(model_dir)]
    for key, value in sorted(data.hyperparameters().items()):
        argv += [f"--{key}", str(value)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    accuracy = re.search(r"^train_accuracy=([0-9.]+)$", done.stdout, re.MULTILINE)
    assert accuracy and float(accuracy.group(1)) > 0.8, done.stdout
    return model_dir


def test_the_model_serves_csv_and_json(model_dir: Path) -> None:
    script = load_script()
    model = script.model_fn(str(model_dir))
    as_json, json_type = script.output_fn(script.predict_fn(script.input_fn(ADELIE, "text/csv"), model),
                                          "application/json")
    assert json.loads(as_json)[0] in {"male", "female"} and json_type == "application/json"
    as_csv, csv_type = script.output_fn(script.predict_fn(script.input_fn(json.dumps([ADELIE.split(",")]),
                                                                           "application/json"), model), "text/csv")
    assert as_csv.strip() in {"male", "female"} and csv_type == "text/csv"


def test_bad_input_is_a_clear_error(model_dir: Path) -> None:
    script = load_script()
    model = script.model_fn(str(model_dir))
    with pytest.raises(ValueError, match="expected 6 values per row"):
        script.predict_fn(script.input_fn("Adelie,Torgersen", "text/csv"), model)

"""entry_points/penguins.py: trained as a script, served through its SageMaker functions."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from smtrain.project.data import PreparedData, load_test, prepare

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "entry_points" / "penguins.py"
ACCURACY = re.compile(r"^train_accuracy=([0-9.]+)$", re.MULTILINE)
HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g"
ADELIE = ["Adelie", "Torgersen", 39.1, 18.7, 181, 3750]
GENTOO = ["Gentoo", "Biscoe", 50.0, 16.3, 230, 5700]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("penguins_entry_point", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> PreparedData:
    return prepare(out_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def model_dir(script: ModuleType, data: PreparedData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained in-process with the hyperparameters as SageMaker's toolkit passes them."""
    model_dir = tmp_path_factory.mktemp("model")
    argv = ["--train", str(data.train_dir), "--model-dir", str(model_dir)]
    for key, value in sorted({**data.hyperparameters(), "C": 1.0, "max-iter": 500}.items()):
        argv += [f"-{key}" if len(key) == 1 else f"--{key}", str(value)]
    script.train(script.parse_args(argv))
    return model_dir


@pytest.fixture(scope="module")
def model(script: ModuleType, model_dir: Path):
    return script.model_fn(str(model_dir))


def invoke(script: ModuleType, model, body: str | bytes, content_type: str, accept: str = "application/json") -> str:
    answer, _ = script.output_fn(script.predict_fn(script.input_fn(body, content_type), model), accept)
    return str(answer)


def csv_line(row: list) -> str:
    return ",".join(str(value) for value in row)


def test_script_runs_directly(data: PreparedData, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--train", str(data.train_dir), "--model-dir", str(model_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    match = ACCURACY.search(result.stdout)
    assert match, result.stdout
    assert 0.8 < float(match.group(1)) <= 1.0
    assert (model_dir / "model.joblib").is_file()
    features = json.loads((model_dir / "features.json").read_text())
    assert features["features"] == list(data.features)
    assert features["classes"] == ["female", "male"]


def test_script_reads_the_sagemaker_environment(
    data: PreparedData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(data.train_dir))
    monkeypatch.setenv("SM_CHANNEL_TEST", str(data.test_dir))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    script = load_script()
    args = script.parse_args(["--categorical-features", "", "--numeric-features", "bill_length_mm,body_mass_g"])
    assert (args.train, args.test, args.model_dir) == (str(data.train_dir), str(data.test_dir), str(tmp_path / "model"))
    assert (args.categorical_features, args.C, args.max_iter) == ([], 1.0, 1000)
    model = script.train(args)
    assert list(model.feature_names_in_) == ["bill_length_mm", "body_mass_g"]
    assert re.search(r"^test_accuracy=[0-9.]+$", capsys.readouterr().out, re.MULTILINE)


def test_script_without_a_train_channel_fails_clearly(script: ModuleType, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        script.parse_args(["--model-dir", "/tmp/model"])
    assert "--train is required" in capsys.readouterr().err


def test_model_scores_the_test_set(script: ModuleType, model, data: PreparedData) -> None:
    X, y = load_test(data.test_dir)
    assert model.score(script.align(X, model), y) > 0.8


def test_csv_one_row(script: ModuleType, model) -> None:
    answer = json.loads(invoke(script, model, csv_line(ADELIE), "text/csv"))
    assert len(answer) == 1
    assert answer[0] in {"male", "female"}


def test_csv_many_rows_with_header_as_csv(script: ModuleType, model) -> None:
    body = "\n".join([HEADER, csv_line(ADELIE), csv_line(GENTOO), csv_line(ADELIE)]) + "\n"
    answer = invoke(script, model, body.encode(), "text/csv; charset=utf-8", accept="text/csv")
    labels = answer.splitlines()
    assert len(labels) == 3 and answer.endswith("\n")
    assert labels[0] == labels[2]
    assert set(labels) <= {"male", "female"}


def test_json_rows_and_records_agree(script: ModuleType, model, data: PreparedData) -> None:
    X, _ = load_test(data.test_dir)
    sample = X.head(10)
    rows = json.dumps(sample.values.tolist())
    records = json.dumps({"instances": sample.to_dict(orient="records")})
    csv_rows = sample.to_csv(index=False, header=False)
    expected = list(script.predict_fn(script.align(sample, model), model))
    assert json.loads(invoke(script, model, rows, "application/json")) == expected
    assert json.loads(invoke(script, model, records, "application/json")) == expected
    assert json.loads(invoke(script, model, csv_rows, "text/csv")) == expected


def test_json_single_row_and_record(script: ModuleType, model) -> None:
    record = dict(zip(HEADER.split(","), GENTOO, strict=True))
    assert invoke(script, model, json.dumps(GENTOO), "application/json") == invoke(
        script, model, json.dumps(record), "application/json"
    )


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (csv_line(ADELIE[:5]), "text/csv", "expected 6 values per row"),
        (csv_line([*ADELIE, 1]), "text/csv", "expected 6 values per row"),
        (csv_line(ADELIE) + "\nAdelie,Dream\n", "text/csv", "different numbers of values"),
        (json.dumps([ADELIE[:4]]), "application/json", "expected 6 values per row"),
        (json.dumps([{"species": "Adelie"}]), "application/json", "missing feature columns"),
        (csv_line(["Adelie", "Dream", "long", 18.7, 181, 3750]), "text/csv", "'bill_length_mm' must be a number"),
        ("", "text/csv", "empty CSV body"),
        ("{not json", "application/json", "invalid JSON"),
        ("[]", "application/json", "non-empty list"),
        ("x", "application/x-npy", "unsupported content type"),
    ],
)
def test_bad_input_raises_value_error(script: ModuleType, model, body: str, content_type: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        invoke(script, model, body, content_type)


def test_unsupported_accept(script: ModuleType) -> None:
    with pytest.raises(ValueError, match="unsupported accept"):
        script.output_fn(["male"], "application/x-npy")
    assert script.output_fn(["male"], "*/*") == ('["male"]', "application/json")
    assert script.output_fn(["male"], "") == ('["male"]', "application/json")
    assert script.output_fn(["male"], "text/csv; charset=utf-8") == ("male\n", "text/csv")

"""Score a trained penguins model on held-out data: a plain SageMaker processing script.

Inputs and output at SageMaker's processing paths, as the SageMaker Python SDK's
abalone pipeline example (tests/data/workflow/abalone/evaluation.py) lays them out:

- ``/opt/ml/processing/model/model.tar.gz``: the training job's model artifact;
- ``/opt/ml/processing/test/X_test.csv`` and ``y_test.csv``;
- writes ``/opt/ml/processing/evaluation/evaluation.json``.

``evaluation.json`` is a model-quality statistics report in the shape SageMaker
Model Monitor writes and the Model Registry shows (ModelMetrics.ModelQuality.Statistics;
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-metrics.html)::

    {"multiclass_classification_metrics": {"accuracy": {"value": 0.97, "standard_deviation": "NaN"}, ...}}

Outside a job, ``--model-dir``/``--test-dir``/``--output-dir`` override the paths::

    python entry_points/penguins_evaluate.py --model-dir model --test-dir data/test --output-dir out

Depends only on what the SageMaker scikit-learn image has.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import tempfile
from pathlib import Path

import joblib
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

PROCESSING = Path("/opt/ml/processing")
MODEL_FILE = "model.joblib"
FEATURES_FILE = "features.json"
SECTION = "multiclass_classification_metrics"
NAN = "NaN"  # Model Monitor's standard_deviation when too few rows to resample


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=PROCESSING / "model")
    parser.add_argument("--test-dir", type=Path, default=PROCESSING / "test")
    parser.add_argument("--output-dir", type=Path, default=PROCESSING / "evaluation")
    return parser.parse_args(argv)


def unpack_model(model_dir: Path, into: Path) -> Path:
    """The folder holding model.joblib: ``model_dir`` itself, or its model.tar.gz unpacked into ``into``."""
    if (model_dir / MODEL_FILE).is_file():
        return model_dir
    archive = model_dir / "model.tar.gz"
    if not archive.is_file():
        sys.exit(f"no model.tar.gz (or {MODEL_FILE}) in {model_dir}: give the training job's model as input 'model'")
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            target = (into / member.name).resolve()
            if not (member.isfile() or member.isdir()) or not target.is_relative_to(into.resolve()):
                continue  # only plain files and folders, never outside `into`
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is not None:
                target.write_bytes(source.read())
    return into


def read_test(test_dir: Path, categorical: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    x_file, y_file = test_dir / "X_test.csv", test_dir / "y_test.csv"
    for path in (x_file, y_file):
        if not path.is_file():
            sys.exit(f"no {path.name} in {test_dir}: give the test split as input 'test'")
    X = pd.read_csv(x_file, dtype={column: str for column in categorical})
    y = pd.read_csv(y_file).iloc[:, 0].astype(str)
    return X, y


def evaluate(model_dir: Path, test_dir: Path) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        folder = unpack_model(model_dir, Path(scratch))
        model = joblib.load(folder / MODEL_FILE)
        features_file = folder / FEATURES_FILE
        described = json.loads(features_file.read_text()) if features_file.is_file() else {}
    X, y = read_test(test_dir, list(described.get("categorical", [])))
    predicted = pd.Series(model.predict(X[list(model.feature_names_in_)])).astype(str)
    return {SECTION: {
        "accuracy": {"value": float(accuracy_score(y, predicted)), "standard_deviation": NAN},
        "weighted_f1": {"value": float(f1_score(y, predicted, average="weighted")), "standard_deviation": NAN},
    }}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = evaluate(args.model_dir, args.test_dir)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
    for name, metric in report[SECTION].items():
        print(f"test_{name}={metric['value']:.6f}", flush=True)


if __name__ == "__main__":
    main()

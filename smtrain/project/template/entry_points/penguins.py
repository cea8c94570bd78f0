"""Train and serve a scikit-learn classifier: a plain SageMaker scikit-learn script.

Runs unchanged in the SageMaker scikit-learn container, under smtrain's local
backend, or directly::

    python entry_points/penguins.py --train data/train --model-dir model --C 0.5

Training reads ``X_train.csv`` and ``y_train.csv`` from the train channel (as
written by ``smtrain.project.data.prepare``), fits one-hot encoding + scaling + logistic
regression, prints ``train_accuracy=...`` (and ``test_accuracy=...`` when a test
channel is given) for a MetricDefinition regex such as ``train_accuracy=([0-9.]+)``,
and saves ``model.joblib`` and ``features.json`` in the model dir.

Hyperparameters (``--key value``; column lists are comma-separated names, empty
for none; a list that is not given is inferred from the column dtypes):
``--target``, ``--numeric-features``, ``--categorical-features``, ``--C``,
``--max-iter``.

Serving accepts ``text/csv`` (rows in feature order, header row optional) and
``application/json`` (a list of rows, a list of ``{column: value}`` records, a
single row or record, or any of these under ``"instances"``), and answers
``application/json`` (a list of labels) or ``text/csv`` (one label per line).

Depends only on what the SageMaker scikit-learn image has: pandas, numpy,
scikit-learn, joblib.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

MODEL_FILE = "model.joblib"
FEATURES_FILE = "features.json"
JSON = "application/json"
CSV = "text/csv"


# -- training ----------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"), help="dir with X_train.csv, y_train.csv")
    parser.add_argument(
        "--test", default=os.environ.get("SM_CHANNEL_TEST"), help="optional dir with X_test.csv, y_test.csv"
    )
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"), help="where to save the model")
    parser.add_argument("--target", default=None, help="target column (default: the column of y_train.csv)")
    parser.add_argument("--numeric-features", default=None, type=column_list)
    parser.add_argument("--categorical-features", default=None, type=column_list)
    # The SageMaker toolkit passes one-letter hyperparameters as `-C`, longer ones as `--name`.
    parser.add_argument("-C", "--C", dest="C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--max-iter", type=int, default=1000)
    args = parser.parse_args(argv)
    for name in ("train", "model_dir"):
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} is required (or set SM_{name.upper()})")
    return args


def column_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def read_split(directory: str, name: str, target: str | None, categorical: list[str] | None) -> tuple:
    """``(X, y)`` from ``X_<name>.csv`` and ``y_<name>.csv``; categoricals read as text."""
    folder = Path(directory)
    x_path, y_path = folder / f"X_{name}.csv", folder / f"y_{name}.csv"
    for path in (x_path, y_path):
        if not path.is_file():
            sys.exit(f"error: {path} not found: the {name} channel must hold X_{name}.csv and y_{name}.csv")
    text_columns = {column: str for column in categorical} if categorical else None
    X = pd.read_csv(x_path, dtype=text_columns)
    labels = pd.read_csv(y_path)
    if target is not None and target not in labels.columns:
        sys.exit(f"error: target column {target!r} not in {y_path} (it has {list(labels.columns)})")
    y = labels[target] if target is not None else labels.iloc[:, 0]
    return X, y


def choose_columns(X: pd.DataFrame, numeric: list[str] | None, categorical: list[str] | None) -> tuple:
    """The numeric and categorical columns: as given, the rest split by dtype."""
    named = set(numeric or ()) | set(categorical or ())
    missing = sorted(named - set(X.columns))
    if missing:
        sys.exit(f"error: feature columns {missing} not in the training data (it has {list(X.columns)})")
    rest = [c for c in X.columns if c not in named]
    if numeric is None:
        numeric = [c for c in rest if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])]
    if categorical is None:
        categorical = [c for c in rest if c not in numeric]
    return numeric, categorical


def build_pipeline(numeric: list[str], categorical: list[str], C: float, max_iter: int) -> Pipeline:
    encode = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("numeric", StandardScaler(), numeric),
        ]
    )
    return Pipeline([("encode", encode), ("classify", LogisticRegression(C=C, max_iter=max_iter))])


def train(args: argparse.Namespace) -> Pipeline:
    X, y = read_split(args.train, "train", args.target, args.categorical_features)
    numeric, categorical = choose_columns(X, args.numeric_features, args.categorical_features)
    features = [c for c in X.columns if c in set(numeric) | set(categorical)]
    X = as_model_input(X[features], numeric, categorical)
    model = build_pipeline(numeric, categorical, args.C, args.max_iter).fit(X, y)
    print(f"train_accuracy={model.score(X, y):.4f}", flush=True)
    if args.test:
        X_test, y_test = read_split(args.test, "test", args.target, categorical)
        print(f"test_accuracy={model.score(align(X_test, model), y_test):.4f}", flush=True)
    save(model, Path(args.model_dir), target=y.name, numeric=numeric, categorical=categorical)
    return model


def save(model: Pipeline, model_dir: Path, *, target: str, numeric: list[str], categorical: list[str]) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / MODEL_FILE)
    description = {
        "target": target,
        "features": list(model.feature_names_in_),
        "numeric": numeric,
        "categorical": categorical,
        "classes": [str(c) for c in model.classes_],
    }
    (model_dir / FEATURES_FILE).write_text(json.dumps(description, indent=2) + "\n")
    print(f"saved {model_dir / MODEL_FILE}", flush=True)


# -- serving -----------------------------------------------------------------


def model_fn(model_dir: str) -> Pipeline:
    return joblib.load(Path(model_dir) / MODEL_FILE)


def input_fn(body: str | bytes, content_type: str) -> pd.DataFrame:
    """A request body as a DataFrame: named columns for records, positional otherwise.

    ``input_fn`` never sees the model, so ``predict_fn`` matches columns to it.
    """
    text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
    kind = media_type(content_type)
    if kind == CSV:
        return parse_csv(text)
    if kind == JSON:
        return parse_json(text)
    raise ValueError(f"unsupported content type {content_type!r}: send {CSV} or {JSON}")


def predict_fn(data: pd.DataFrame, model: Pipeline):
    return model.predict(align(data, model))


def output_fn(prediction, accept: str) -> tuple[str, str]:
    """The labels as JSON or CSV, with that content type: returned as ``(body, content_type)``, the image's
    handler answers with it (a bare str would be answered as text/html)."""
    labels = [label.item() if hasattr(label, "item") else label for label in prediction]
    kind = media_type(accept) or JSON
    if kind in (JSON, "*/*"):
        return json.dumps(labels), JSON
    if kind == CSV:
        return "".join(f"{label}\n" for label in labels), CSV
    raise ValueError(f"unsupported accept type {accept!r}: ask for {JSON} or {CSV}")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def parse_csv(text: str) -> pd.DataFrame:
    # Every cell stays text here: align() converts once the model says which columns are numeric.
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise ValueError("empty CSV body: send one row per sample, values in feature order")
    check_row_lengths(rows)
    return pd.DataFrame(rows)


def parse_json(text: str) -> pd.DataFrame:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"invalid JSON body: {error}") from None
    if isinstance(payload, dict):
        payload = payload.get("instances", [payload])
    if not isinstance(payload, list) or not payload:
        raise ValueError('JSON body must be a non-empty list of rows or records, or {"instances": [...]}')
    if not isinstance(payload[0], list | dict):
        payload = [payload]  # a single row
    if all(isinstance(row, dict) for row in payload):
        return pd.DataFrame.from_records(payload)
    if all(isinstance(row, list) for row in payload):
        check_row_lengths(payload)
        return pd.DataFrame(payload)
    raise ValueError("JSON rows must be all lists (values in feature order) or all objects ({column: value})")


def check_row_lengths(rows: list[list]) -> None:
    lengths = {len(row) for row in rows}
    if len(lengths) > 1:
        raise ValueError(f"rows have different numbers of values: {sorted(lengths)}")


def align(data: pd.DataFrame, model: Pipeline) -> pd.DataFrame:
    """``data`` with the model's feature names, order and types, or a ValueError saying what is wrong."""
    features = list(model.feature_names_in_)
    data = name_columns(data, features)
    missing = [c for c in features if c not in data.columns]
    if missing:
        raise ValueError(f"missing feature columns {missing}; the model expects {features}")
    numeric, categorical = column_kinds(model)
    return as_model_input(data[features], numeric, categorical)


def name_columns(data: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Positional columns get the feature names; a first row that names the features is a header."""
    if all(isinstance(c, str) for c in data.columns):
        return data
    first = [str(v) for v in data.iloc[0]] if len(data) else []
    if sorted(first) == sorted(features):
        return data.iloc[1:].set_axis(first, axis=1).reset_index(drop=True)
    if data.shape[1] != len(features):
        raise ValueError(f"expected {len(features)} values per row ({', '.join(features)}), got {data.shape[1]}")
    return data.set_axis(features, axis=1)


def column_kinds(model: Pipeline) -> tuple[list[str], list[str]]:
    columns = {name: list(cols) for name, _, cols in model.named_steps["encode"].transformers_}
    return columns.get("numeric", []), columns.get("categorical", [])


def as_model_input(data: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Numbers as floats and categories as text, whatever the input format gave."""
    data = data.copy()
    for column in numeric:
        try:
            data[column] = pd.to_numeric(data[column]).astype(float)
        except (ValueError, TypeError):
            raise ValueError(f"feature {column!r} must be a number, got {data[column].tolist()[:5]}") from None
    for column in categorical:
        data[column] = data[column].astype(str)
    return data


if __name__ == "__main__":
    train(parse_args())

"""Split the raw penguins CSV into train and test sets: a plain SageMaker processing script.

Reads every ``*.csv`` under ``/opt/ml/processing/input`` and writes
``X_train.csv``/``y_train.csv`` to ``/opt/ml/processing/train`` and
``X_test.csv``/``y_test.csv`` to ``/opt/ml/processing/test`` -- the layout
``entry_points/penguins.py`` reads from its train and test channels. The paths
are SageMaker's processing defaults (``ProcessingInput.destination`` /
``ProcessingOutput.source`` in the SageMaker Python SDK's processing examples);
``--input-dir``/``--train-dir``/``--test-dir`` override them for a run outside a job::

    python entry_points/penguins_preprocess.py --input-dir raw --train-dir out/train --test-dir out/test

Options: ``--target`` (default ``species``), ``--test-size`` (default 0.2),
``--seed`` (default 42). Rows with a missing value are dropped; the split is
stratified on the target. Depends only on pandas and scikit-learn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

PROCESSING = Path("/opt/ml/processing")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", type=Path, default=PROCESSING / "input")
    parser.add_argument("--train-dir", type=Path, default=PROCESSING / "train")
    parser.add_argument("--test-dir", type=Path, default=PROCESSING / "test")
    parser.add_argument("--target", default="species")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def read_raw(input_dir: Path) -> pd.DataFrame:
    files = sorted(input_dir.rglob("*.csv"))
    if not files:
        sys.exit(f"no .csv file under {input_dir}: give the raw data as the input named 'input'")
    return pd.concat([pd.read_csv(path) for path in files], ignore_index=True)


def write(directory: Path, name: str, X: pd.DataFrame, y: pd.Series) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    X.to_csv(directory / f"X_{name}.csv", index=False)
    y.to_frame().to_csv(directory / f"y_{name}.csv", index=False)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    raw = read_raw(args.input_dir)
    if args.target not in raw.columns:
        sys.exit(f"no column {args.target!r} in the raw data (columns: {', '.join(raw.columns)}); give --target")
    clean = raw.dropna().reset_index(drop=True)
    features = [column for column in clean.columns if column != args.target]
    X_train, X_test, y_train, y_test = train_test_split(
        clean[features], clean[args.target], test_size=args.test_size, random_state=args.seed,
        stratify=clean[args.target])
    write(args.train_dir, "train", X_train, y_train)
    write(args.test_dir, "test", X_test, y_test)
    print(f"rows: {len(raw)} raw, {len(clean)} clean, {len(X_train)} train, {len(X_test)} test")


if __name__ == "__main__":
    main()

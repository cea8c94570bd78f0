"""Prepare a data set for training: clean it, split it, write the channel files.

Layout written under ``out_dir``::

    out_dir/
        train/X_train.csv   features, with a header row, columns in feature order
        train/y_train.csv   the target, one column named after it, with a header row
        test/X_test.csv     held-out features, same columns
        test/y_test.csv     held-out target
        prepared.json       what :func:`load_prepared` needs to rebuild PreparedData

``train/`` is the training channel: it holds everything the entry point reads.
``test/`` is kept apart so the model never sees it while training. Each directory
is written to a hidden staging directory and renamed into place, so a crash
leaves the previous complete files (or none), never half-written ones.

The source is the Palmer penguins data shipped by ``palmerpenguins`` (works
offline), a CSV path or a pandas DataFrame. pandas and scikit-learn are
imported inside functions: the CLI must start without the data stack.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtrain.core.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

PENGUINS_TARGET = "sex"
PENGUINS_NUMERIC = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
PENGUINS_CATEGORICAL = ("species", "island")
# `year` is when the bird was measured, not a trait of the bird: never a feature.
PENGUINS_NOT_FEATURES = ("year",)
MANIFEST = "prepared.json"


@dataclass(frozen=True)
class PreparedData:
    """Where :func:`prepare` wrote the split and how to train on it."""

    train_dir: Path
    test_dir: Path
    target: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    n_train: int
    n_test: int
    # Column order of X_train.csv: the order of a header-less CSV row at serving.
    features: tuple[str, ...]

    def hyperparameters(self) -> dict[str, str]:
        """The entry point's hyperparameters: column lists are comma-separated names.

        Each becomes ``--key value`` on the script's command line; an empty list
        is an empty string, which the script reads as "no such columns".
        """
        return {
            "target": self.target,
            "numeric-features": ",".join(self.numeric),
            "categorical-features": ",".join(self.categorical),
        }


def prepare(
    source: str | os.PathLike[str] | pd.DataFrame | None = None,
    *,
    target: str = PENGUINS_TARGET,
    numeric: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    out_dir: Path,
    test_size: float = 0.2,
    seed: int = 42,
) -> PreparedData:
    """Clean ``source``, split it stratified on ``target`` and write the layout above.

    Features not named are inferred from dtypes among the columns other than the
    target: numbers are numeric, everything else categorical. Pass ``[]`` to have
    no columns of a kind. Rows with a null in a used column, and duplicate rows,
    are dropped.
    """
    frame, is_penguins = _load(source)
    where = _where(source)
    numeric_cols, categorical_cols = _choose_features(frame, target, numeric, categorical, is_penguins, where)
    features = [c for c in frame.columns if c in set(numeric_cols) | set(categorical_cols)]
    clean = frame[[*features, target]].dropna().drop_duplicates().reset_index(drop=True)
    _check_classes(clean, target, where)
    X_train, X_test, y_train, y_test = _split(clean, features, target, test_size, seed, where)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_dir = _write_split(out_dir, "train", X_train, y_train)
    test_dir = _write_split(out_dir, "test", X_test, y_test)
    prepared = PreparedData(
        train_dir=train_dir,
        test_dir=test_dir,
        target=target,
        numeric=tuple(numeric_cols),
        categorical=tuple(categorical_cols),
        n_train=len(X_train),
        n_test=len(X_test),
        features=tuple(features),
    )
    _write_manifest(out_dir, prepared)
    return prepared


def load_prepared(out_dir: Path) -> PreparedData:
    """The PreparedData that :func:`prepare` last wrote under ``out_dir``."""
    path = Path(out_dir) / MANIFEST
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(
            "no prepared data here",
            where=str(path),
            hint="run `smtrain prepare` (or smtrain.project.data.prepare) first",
        ) from None
    return PreparedData(
        train_dir=Path(out_dir) / "train",
        test_dir=Path(out_dir) / "test",
        target=record["target"],
        numeric=tuple(record["numeric"]),
        categorical=tuple(record["categorical"]),
        n_train=record["n_train"],
        n_test=record["n_test"],
        features=tuple(record["features"]),
    )


def load_test(test_dir: Path) -> tuple[pd.DataFrame, pd.Series]:
    """The held-out ``(X, y)`` from a test directory written by :func:`prepare`."""
    return _read_split(Path(test_dir), "test")


def load_train(train_dir: Path) -> tuple[pd.DataFrame, pd.Series]:
    """The training ``(X, y)`` from a train directory written by :func:`prepare`."""
    return _read_split(Path(train_dir), "train")


# -- loading ---------------------------------------------------------------


def _load(source: Any) -> tuple[pd.DataFrame, bool]:
    """The source as a DataFrame, and whether it is the built-in penguins set."""
    import pandas as pd

    if source is None:
        from palmerpenguins import load_penguins

        return load_penguins(), True
    if isinstance(source, pd.DataFrame):
        return source, False
    return _read_csv(Path(source)), False


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise UsageError(
            "no such CSV file" if not path.exists() else "not a file",
            where=str(path),
            hint="pass the path of a CSV file with a header row, or omit it to use the penguins data",
        )
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UsageError(
            f"cannot read as CSV: {error}", where=str(path), hint="the file must be UTF-8 CSV with a header row"
        ) from None


def _where(source: Any) -> str:
    if source is None:
        return "penguins data"
    if isinstance(source, str | os.PathLike):
        return str(source)
    return "DataFrame"


# -- choosing columns --------------------------------------------------------


def _choose_features(
    frame: pd.DataFrame,
    target: str,
    numeric: Sequence[str] | None,
    categorical: Sequence[str] | None,
    is_penguins: bool,
    where: str,
) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature columns: as given, the rest inferred from dtypes."""
    _check_known(frame, [target], "target column", where)
    _check_known(frame, [*(numeric or ()), *(categorical or ())], "feature column", where)

    excluded = {target, *(numeric or ()), *(categorical or ())}
    if is_penguins:
        excluded.update(PENGUINS_NOT_FEATURES)
    rest = [c for c in frame.columns if c not in excluded]
    numeric_cols = list(numeric) if numeric is not None else [c for c in rest if _is_number(frame[c])]
    categorical_cols = list(categorical) if categorical is not None else [c for c in rest if not _is_number(frame[c])]
    _check_features(frame, target, numeric_cols, categorical_cols, where)
    return numeric_cols, categorical_cols


def _is_number(column: pd.Series) -> bool:
    from pandas.api import types

    return bool(types.is_numeric_dtype(column) and not types.is_bool_dtype(column))


def _check_known(frame: pd.DataFrame, names: Sequence[str], kind: str, where: str) -> None:
    for name in names:
        if name not in frame.columns:
            raise UsageError(
                f"unknown {kind} {name!r}",
                where=where,
                hint=f"the data has columns: {', '.join(str(c) for c in frame.columns)}",
            )


def _check_features(frame: pd.DataFrame, target: str, numeric: list[str], categorical: list[str], where: str) -> None:
    features = numeric + categorical
    if not features:
        raise UsageError(
            f"no feature columns besides the target {target!r}", where=where, hint="add a column to learn from"
        )
    if target in features:
        raise UsageError(
            f"the target {target!r} is also listed as a feature", where=where, hint="remove it from the feature lists"
        )
    bad_names = [c for c in features if not isinstance(c, str) or "," in c]
    if bad_names:
        raise UsageError(
            f"feature column names must be text without commas: {bad_names}",
            where=where,
            hint="column lists travel as comma-separated hyperparameters; rename those columns",
        )
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise UsageError(
            f"listed as both numeric and categorical: {both}", where=where, hint="list each feature column once"
        )
    not_numbers = [c for c in numeric if not _is_number(frame[c])]
    if not_numbers:
        raise UsageError(
            f"numeric feature columns hold non-numbers: {not_numbers}",
            where=where,
            hint="list them as categorical features instead, or clean the values",
        )


# -- splitting ---------------------------------------------------------------


def _check_classes(clean: pd.DataFrame, target: str, where: str) -> None:
    if clean.empty:
        raise UsageError(
            "no rows left after dropping rows with missing values",
            where=where,
            hint="fill in missing values, or use fewer feature columns",
        )
    counts = clean[target].value_counts()
    small = counts[counts < 2]
    if len(counts) < 2 or not small.empty:
        detail = (
            f"class {small.index[0]!r} of target column {target!r} has only {int(small.iloc[0])} row"
            if not small.empty
            else f"target column {target!r} has only one class ({counts.index[0]!r})"
        )
        raise UsageError(
            detail,
            where=where,
            hint="a stratified split needs at least 2 classes and 2 rows of each: "
            "drop or merge rare classes, or choose another target column",
        )


def _split(
    clean: pd.DataFrame, features: list[str], target: str, test_size: float, seed: int, where: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    from sklearn.model_selection import train_test_split

    try:
        X_train, X_test, y_train, y_test = train_test_split(
            clean[features], clean[target], test_size=test_size, random_state=seed, stratify=clean[target]
        )
    except ValueError as error:
        raise UsageError(
            f"cannot split {len(clean)} rows stratified on {target!r}: {error}",
            where=where,
            hint="use a test_size between 0 and 1 that leaves at least one row of each class on both sides",
        ) from None
    return X_train, X_test, y_train, y_test


# -- writing -----------------------------------------------------------------


def _write_split(out_dir: Path, name: str, X: pd.DataFrame, y: pd.Series) -> Path:
    """Write ``out_dir/name/{X,y}_name.csv`` by staging a directory and renaming it in."""
    final = out_dir / name
    staging = out_dir / f".{name}.staging-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        for frame, file_name in ((X, f"X_{name}.csv"), (y.to_frame(), f"y_{name}.csv")):
            with naming_the_file(final / file_name):
                frame.to_csv(staging / file_name, index=False)
        _swap_in(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


@contextmanager
def naming_the_file(path: Path) -> Iterator[None]:
    """An OSError while writing ``path`` (a full disk, say) names it: pandas' and Python's writes may not."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc


def _swap_in(staging: Path, final: Path) -> None:
    # A directory cannot be atomically replaced by rename, so the old one steps
    # aside first; at every instant `final` is absent or complete.
    retired = None
    if final.exists():
        retired = final.with_name(f".{final.name}.retired-{uuid.uuid4().hex[:12]}")
        final.rename(retired)
    staging.rename(final)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


def _write_manifest(out_dir: Path, prepared: PreparedData) -> None:
    record = {
        "target": prepared.target,
        "numeric": list(prepared.numeric),
        "categorical": list(prepared.categorical),
        "features": list(prepared.features),
        "n_train": prepared.n_train,
        "n_test": prepared.n_test,
        "hyperparameters": prepared.hyperparameters(),
    }
    staging = out_dir / f".{MANIFEST}.staging-{uuid.uuid4().hex[:12]}"
    with naming_the_file(out_dir / MANIFEST):
        staging.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(staging, out_dir / MANIFEST)


def _read_split(directory: Path, name: str) -> tuple[pd.DataFrame, pd.Series]:
    import pandas as pd

    x_path, y_path = directory / f"X_{name}.csv", directory / f"y_{name}.csv"
    for path in (x_path, y_path):
        if not path.is_file():
            raise UsageError(
                f"no {path.name} here", where=str(directory), hint="point at a directory written by prepare()"
            )
    X = pd.read_csv(x_path)
    y = pd.read_csv(y_path).iloc[:, 0]
    return X, y

"""smtrain.project.data: cleaning, stratified splitting and the files prepare() writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from smtrain.core.errors import UsageError
from smtrain.project.data import (
    PENGUINS_CATEGORICAL,
    PENGUINS_NUMERIC,
    PreparedData,
    load_prepared,
    load_test,
    load_train,
    prepare,
)


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> PreparedData:
    return prepare(out_dir=tmp_path_factory.mktemp("penguins"))


def small_frame(rows: int = 20) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "size": [float(i) for i in range(rows)],
            "count": list(range(rows)),
            "colour": ["red", "blue"] * (rows // 2),
            "label": ["yes", "no", "no", "yes"] * (rows // 4),
        }
    )


def test_penguins_defaults(penguins: PreparedData) -> None:
    assert penguins.target == "sex"
    assert penguins.numeric == PENGUINS_NUMERIC
    assert penguins.categorical == PENGUINS_CATEGORICAL
    assert set(penguins.features) == set(PENGUINS_NUMERIC + PENGUINS_CATEGORICAL)
    assert penguins.hyperparameters() == {
        "target": "sex",
        "numeric-features": "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g",
        "categorical-features": "species,island",
    }


def test_penguins_files_are_written(penguins: PreparedData) -> None:
    out_dir = penguins.train_dir.parent
    assert sorted(p.name for p in penguins.train_dir.iterdir()) == ["X_train.csv", "y_train.csv"]
    assert sorted(p.name for p in penguins.test_dir.iterdir()) == ["X_test.csv", "y_test.csv"]
    assert sorted(p.name for p in out_dir.iterdir()) == ["prepared.json", "test", "train"]
    X_train, y_train = load_train(penguins.train_dir)
    X_test, y_test = load_test(penguins.test_dir)
    assert list(X_train.columns) == list(penguins.features) == list(X_test.columns)
    assert y_train.name == y_test.name == "sex"
    assert (len(X_train), len(y_train), len(X_test), len(y_test)) == (266, 266, 67, 67)
    assert (penguins.n_train, penguins.n_test) == (266, 67)


def test_penguins_are_clean(penguins: PreparedData) -> None:
    X_train, y_train = load_train(penguins.train_dir)
    X_test, y_test = load_test(penguins.test_dir)
    everything = pd.concat([X_train.assign(sex=y_train), X_test.assign(sex=y_test)], ignore_index=True)
    assert not everything.isna().any().any()
    assert not everything.duplicated().any()
    assert len(everything) == 333  # 344 rows, 11 with a missing value


def test_split_is_stratified(penguins: PreparedData) -> None:
    _, y_train = load_train(penguins.train_dir)
    _, y_test = load_test(penguins.test_dir)
    train_share = y_train.value_counts(normalize=True)
    test_share = y_test.value_counts(normalize=True)
    for label in ("male", "female"):
        assert abs(train_share[label] - test_share[label]) < 0.02


def test_fixed_seed_reproduces_the_files(penguins: PreparedData, tmp_path: Path) -> None:
    again = prepare(out_dir=tmp_path / "again")
    for name in ("train/X_train.csv", "train/y_train.csv", "test/X_test.csv", "test/y_test.csv"):
        assert (again.train_dir.parent / name).read_bytes() == (penguins.train_dir.parent / name).read_bytes()
    other = prepare(out_dir=tmp_path / "other", seed=7)
    assert (other.train_dir / "X_train.csv").read_bytes() != (again.train_dir / "X_train.csv").read_bytes()


def test_rewriting_replaces_files_and_leaves_no_staging(tmp_path: Path) -> None:
    prepare(small_frame(40), target="label", out_dir=tmp_path)
    (tmp_path / "train" / "stale.csv").write_text("old")
    prepared = prepare(small_frame(20), target="label", out_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared.json", "test", "train"]
    assert not (tmp_path / "train" / "stale.csv").exists()
    assert prepared.n_train + prepared.n_test == 20


def test_load_prepared_round_trips(penguins: PreparedData) -> None:
    assert load_prepared(penguins.train_dir.parent) == penguins


def test_csv_source_infers_column_kinds(tmp_path: Path) -> None:
    frame = small_frame(40)
    frame.loc[3, "size"] = None
    frame = pd.concat([frame, frame.iloc[[5, 6]]])
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    prepared = prepare(path, target="label", out_dir=tmp_path / "out", test_size=0.25)
    assert prepared.numeric == ("size", "count")
    assert prepared.categorical == ("colour",)
    assert (prepared.n_train, prepared.n_test) == (29, 10)  # 40 rows, one null, duplicates dropped
    assert prepared.hyperparameters()["categorical-features"] == "colour"


def test_dataframe_source_with_given_columns(tmp_path: Path) -> None:
    prepared = prepare(small_frame(), target="label", numeric=["size"], categorical=[], out_dir=tmp_path)
    assert (prepared.numeric, prepared.categorical, prepared.features) == (("size",), (), ("size",))
    assert prepared.hyperparameters() == {"target": "label", "numeric-features": "size", "categorical-features": ""}
    X, y = load_train(prepared.train_dir)
    assert list(X.columns) == ["size"]
    assert set(y) == {"yes", "no"}


def test_categorical_given_numeric_inferred(tmp_path: Path) -> None:
    prepared = prepare(small_frame(), target="label", categorical=["colour", "count"], out_dir=tmp_path)
    assert prepared.numeric == ("size",)
    assert prepared.categorical == ("colour", "count")


def test_missing_csv(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such CSV file") as caught:
        prepare(tmp_path / "nope.csv", out_dir=tmp_path / "out")
    assert caught.value.where == str(tmp_path / "nope.csv")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target": "colour_"}, "unknown target column 'colour_'"),
        ({"numeric": ["weight"]}, "unknown feature column 'weight'"),
        ({"categorical": ["shade"]}, "unknown feature column 'shade'"),
        ({"numeric": ["colour"]}, "numeric feature columns hold non-numbers"),
        ({"numeric": ["size"], "categorical": ["size"]}, "both numeric and categorical"),
        ({"numeric": ["label"]}, "also listed as a feature"),
        ({"numeric": [], "categorical": []}, "no feature columns"),
    ],
)
def test_bad_columns(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        prepare(small_frame(), **{"target": "label", **options}, out_dir=tmp_path)
    assert caught.value.hint


def test_column_name_with_comma(tmp_path: Path) -> None:
    frame = small_frame().rename(columns={"size": "size,cm"})
    with pytest.raises(UsageError, match="comma"):
        prepare(frame, target="label", out_dir=tmp_path)


def test_class_too_small_to_stratify(tmp_path: Path) -> None:
    frame = small_frame()
    frame.loc[0, "label"] = "maybe"
    with pytest.raises(UsageError, match="class 'maybe' of target column 'label' has only 1 row") as caught:
        prepare(frame, target="label", out_dir=tmp_path)
    assert "stratified" in caught.value.hint


def test_single_class_target(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="only one class"):
        prepare(small_frame().assign(label="yes"), target="label", out_dir=tmp_path)


def test_test_set_too_small_for_the_classes(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot split"):
        prepare(small_frame(), target="label", test_size=0.05, out_dir=tmp_path)


def test_load_test_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no X_test\.csv"):
        load_test(tmp_path)


def test_load_prepared_without_prepare(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no prepared data"):
        load_prepared(tmp_path)


def test_column_errors_name_the_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    small_frame().to_csv(path, index=False)
    with pytest.raises(UsageError, match="unknown target column 'sex'") as caught:
        prepare(path, out_dir=tmp_path / "out")
    assert caught.value.where == str(path)
    assert "size, count, colour, label" in caught.value.hint


def test_a_full_disk_names_the_csv_being_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from smtrain.core.errors import from_os_error

    prepare(small_frame(40), target="label", out_dir=tmp_path)
    before = (tmp_path / "train" / "X_train.csv").read_bytes()
    written: list[str] = []

    def full_disk(frame: pd.DataFrame, path: Path, **kwargs: object) -> None:
        written.append(Path(path).name)
        if Path(path).name == "y_train.csv":
            raise OSError(errno.ENOSPC, "No space left on device")  # as a failed write() raises it: no file name
        Path(path).write_text("partial")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    with pytest.raises(OSError) as caught:
        prepare(small_frame(20), target="label", out_dir=tmp_path)

    assert written == ["X_train.csv", "y_train.csv"]
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(tmp_path / "train" / "y_train.csv")
    message = from_os_error(caught.value)
    assert message.where == str(tmp_path / "train" / "y_train.csv")
    assert "ENOSPC" in message.what
    assert (tmp_path / "train" / "X_train.csv").read_bytes() == before  # the previous split is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared.json", "test", "train"]

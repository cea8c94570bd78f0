import pytest

from smtrain.core.errors import UsageError
from smtrain.planning.spec import (
    check_name,
    decode_hyperparameters,
    encode_hyperparameters,
    parse_pairs,
    timestamped_name,
)


def test_hp_values_are_json_when_they_parse() -> None:
    items = ["n=8", "crit=entropy", "lr=0.1", "flag=true", "cols=[1,2]", "s=\"8\""]
    parsed = parse_pairs(items, "--hp", json_values=True)
    assert parsed == {"n": 8, "crit": "entropy", "lr": 0.1, "flag": True, "cols": [1, 2], "s": "8"}


def test_encoding_matches_the_sdk_and_decoding_the_toolkit() -> None:
    encoded = encode_hyperparameters({"n": 8, "crit": "entropy", "lr": 0.1})
    assert encoded == {"n": "8", "crit": '"entropy"', "lr": "0.1"}
    decoded = decode_hyperparameters({**encoded, "raw": "not json"})
    assert decoded == {"n": 8, "crit": "entropy", "lr": 0.1, "raw": "not json"}


@pytest.mark.parametrize("item", ["noequals", "=value"])
def test_malformed_pairs_name_the_flag(item: str) -> None:
    with pytest.raises(UsageError, match="malformed --hp") as info:
        parse_pairs([item], "--hp")
    assert info.value.exit_code == 2
    assert "KEY=VALUE" in info.value.hint


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(UsageError, match="given twice"):
        parse_pairs(["a=1", "a=2"], "--hp")


def test_timestamped_names_follow_the_sdk_and_fit_63() -> None:
    name = timestamped_name("penguins", now=0.5)
    assert name == "penguins-1970-01-01-00-00-00-500"
    assert len(timestamped_name("x" * 100)) == 63
    assert check_name(timestamped_name("my_script.v2"), "job name")


def test_invalid_names_are_refused() -> None:
    with pytest.raises(UsageError, match="invalid job name"):
        check_name("bad_name", "job name")

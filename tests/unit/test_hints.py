"""Suggested commands carry what they need to be pasted as they are."""

from __future__ import annotations

from pathlib import Path

from smtrain.core.config import Config, load_config
from smtrain.core.hints import suggest


def test_the_local_default_adds_nothing() -> None:
    assert suggest(Config(), "stop", "job-1") == "smtrain stop job-1"


def test_sagemaker_adds_the_backend_region_and_profile() -> None:
    config = Config(backend="sagemaker", region="eu-west-1", profile="ml team")
    assert suggest(config, "stop", "job-1") == (
        "smtrain stop job-1 --backend sagemaker --region eu-west-1 --profile 'ml team'")
    assert suggest(Config(backend="sagemaker"), "ls") == "smtrain ls --backend sagemaker"


def test_other_settings_only_when_given_as_flags(tmp_path: Path) -> None:
    config = load_config({"home": str(tmp_path / "h"), "bucket": "b"}, environ={"SMTRAIN_ROLE": "r"}, cwd=tmp_path)
    assert suggest(config, "logs", "j") == f"smtrain logs j --home {tmp_path / 'h'}"
    assert suggest(config, "fit", needs=("home", "role", "bucket")) == f"smtrain fit --home {tmp_path / 'h'} --bucket b"


def test_words_are_quoted_for_the_shell() -> None:
    assert suggest(Config(), "predict", "ep", "--body", "...") == "smtrain predict ep --body ..."
    assert suggest(Config(), "fit", "--hp", "features=a b") == "smtrain fit --hp 'features=a b'"

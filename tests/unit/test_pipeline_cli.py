"""The [pipeline] table of smtrain.toml: the same options as the flags, and no silent typo."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtrain.cli.pipeline import check_table_keys, read_pipeline_table
from smtrain.core.errors import UsageError


def test_the_table_becomes_the_flags_defaults(tmp_path: Path) -> None:
    path = tmp_path / "smtrain.toml"
    path.write_text("""
backend = "local"

[pipeline]
name = "penguins"
entry_point = "penguins.py"
gate_threshold = 0.8
approve = true

[pipeline.channel]
train = "s3://b/train/"

[pipeline.hp]
C = 0.5
target = "sex"
""")
    table = read_pipeline_table(path)
    assert table == {"pipeline_name": "penguins", "entry_point": "penguins.py", "gate_threshold": 0.8,
                     "approve": True, "channels": ["train=s3://b/train/"], "hps": ["C=0.5", "target=sex"]}
    check_table_keys(table)


def test_a_misspelt_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown key 'gate_treshold'") as caught:
        check_table_keys({"gate_treshold": 0.8})
    assert "gate_threshold" in str(caught.value)


def test_the_settings_table_ignores_the_pipeline_table(tmp_path: Path) -> None:
    from smtrain.core.config import load_config

    (tmp_path / "smtrain.toml").write_text('backend = "local"\n\n[pipeline]\nname = "p"\n')
    assert load_config(cwd=tmp_path, environ={}).backend == "local"

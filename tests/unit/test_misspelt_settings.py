"""A misspelt SMTRAIN_* variable is named in a warning with the closest setting; known names never are."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from smtrain.core.config import OTHER_VARIABLES, env_name, misspelt_settings
from tests.conftest import REPO

VARIABLE = re.compile(r"\bSMTRAIN_[A-Z][A-Z0-9_]*")


def test_a_misspelt_variable_names_the_closest_setting(tmp_path: Path) -> None:
    warnings = misspelt_settings({"SMTRAIN_HOMEE": "x", "SMTRAIN_REGOIN": "eu-west-1", "PATH": "/bin"}, cwd=tmp_path)
    assert warnings == [
        "SMTRAIN_HOMEE (in the environment) is not an smtrain setting and is ignored; did you mean SMTRAIN_HOME?",
        "SMTRAIN_REGOIN (in the environment) is not an smtrain setting and is ignored; did you mean SMTRAIN_REGION?",
    ]


def test_a_name_like_no_setting_lists_the_known_ones(tmp_path: Path) -> None:
    (warning,) = misspelt_settings({"SMTRAIN_ZZZ": "1"}, cwd=tmp_path)
    assert "SMTRAIN_ZZZ" in warning and "known settings: SMTRAIN_BACKEND, SMTRAIN_HOME" in warning


def test_the_project_dotenv_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "smtrain.toml").write_text("")
    (tmp_path / ".env").write_text("SMTRAIN_BACKNED=sagemaker\nOTHER_TOOL=1\n")
    (tmp_path / "sub").mkdir()
    (warning,) = misspelt_settings({}, cwd=tmp_path / "sub")
    assert warning.startswith(f"SMTRAIN_BACKNED (in {tmp_path / '.env'}) is not an smtrain setting")
    assert "did you mean SMTRAIN_BACKEND" in warning


def test_settings_and_smtrain_own_variables_are_not_warned_of(tmp_path: Path) -> None:
    environ = {env_name("home"): "x", env_name("max_runtime_seconds"): "5", **dict.fromkeys(OTHER_VARIABLES, "1")}
    assert misspelt_settings(environ, cwd=tmp_path) == []


def test_every_smtrain_variable_the_code_reads_is_known(tmp_path: Path) -> None:
    """A variable named in smtrain's strings (os.environ lookups, written workflows) must not be warned of."""
    named: set[str] = set()
    for path in (REPO / "smtrain").rglob("*.py"):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        for token in tokens:
            if token.type in (tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)):
                named.update(VARIABLE.findall(token.string))
    assert named, "the scan found nothing: the pattern is wrong"
    assert misspelt_settings(dict.fromkeys(named, "1"), cwd=tmp_path) == []

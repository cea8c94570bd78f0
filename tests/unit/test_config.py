from pathlib import Path

import pytest

from smtrain.core.config import load_config
from smtrain.core.errors import UsageError


def test_defaults(tmp_path: Path) -> None:
    config = load_config(environ={}, cwd=tmp_path)
    assert config.backend == "local"
    assert config.home == tmp_path / ".smtrain"
    assert config.sources == {}


def test_precedence_flag_env_dotenv_toml(tmp_path: Path) -> None:
    (tmp_path / "smtrain.toml").write_text(
        'bucket = "from-toml"\nprefix = "p-toml"\nrole = "r-toml"\nregion = "eu-west-1"\n'
    )
    (tmp_path / ".env").write_text("SMTRAIN_BUCKET=from-dotenv\nSMTRAIN_PREFIX=p-dotenv\n")
    environ = {"SMTRAIN_BUCKET": "from-env"}
    config = load_config({"bucket": "from-flag", "role": None}, environ=environ, cwd=tmp_path)
    assert config.bucket == "from-flag"
    assert config.prefix == "p-dotenv"
    assert config.role == "r-toml"
    assert config.sources == {"bucket": "flag", "prefix": ".env", "role": "smtrain.toml", "region": "smtrain.toml"}
    assert load_config(environ=environ, cwd=tmp_path).bucket == "from-env"


def test_aws_region_fallback_and_int_coercion(tmp_path: Path) -> None:
    config = load_config(environ={"AWS_DEFAULT_REGION": "ap-south-1", "SMTRAIN_INSTANCE_COUNT": "3"}, cwd=tmp_path)
    assert config.region == "ap-south-1"
    assert config.instance_count == 3


def test_toml_section_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "smtrain.toml").write_text('[smtrain]\nbackend = "sagemaker"\n')
    assert load_config(environ={}, cwd=tmp_path).backend == "sagemaker"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SMTRAIN_BACKEND": "docker"}, "unknown backend 'docker'"),
        ({"SMTRAIN_INSTANCE_COUNT": "two"}, "instance_count must be a whole number"),
    ],
)
def test_bad_values_are_usage_errors(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        load_config(environ=environ, cwd=tmp_path)
    assert info.value.where == "environment"


def test_unknown_toml_key_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "smtrain.toml").write_text('bukket = "x"\n')
    with pytest.raises(UsageError, match="unknown setting 'bukket'") as info:
        load_config(environ={}, cwd=tmp_path)
    assert info.value.where == "smtrain.toml"
    assert "bucket" in info.value.hint


def test_poll_seconds_is_a_number_of_seconds(tmp_path: Path) -> None:
    assert load_config(environ={}, cwd=tmp_path).poll_seconds == 10.0
    assert load_config(environ={"SMTRAIN_POLL_SECONDS": "0.5"}, cwd=tmp_path).poll_seconds == 0.5
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(UsageError, match="poll_seconds must be a number of seconds"):
            load_config(environ={"SMTRAIN_POLL_SECONDS": bad}, cwd=tmp_path)

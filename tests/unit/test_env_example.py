from dataclasses import fields

from smtrain.core.config import Config, env_name
from tests.conftest import REPO


def test_env_example_documents_every_setting() -> None:
    text = (REPO / ".env.example").read_text()
    missing = [env_name(f.name) for f in fields(Config) if f.name != "sources" and env_name(f.name) not in text]
    assert missing == []

from smtrain.cli import cli
from smtrain.cli.docs import DOCS, render, walk


def test_docs_are_current() -> None:
    assert DOCS.read_text() == render(), "run: python -m smtrain.cli.docs"


def test_every_command_has_a_help_line() -> None:
    for path, command, _ in walk(cli, ["smtrain"]):
        assert command.help, f"{' '.join(path)} has no help"

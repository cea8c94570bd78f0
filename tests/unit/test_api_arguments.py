"""The CLI and the Python API take the same options, and the API's errors name its own arguments.

Every flag of ``fit``, ``deploy`` and ``register`` is one keyword argument of the method of the same
meaning (or a Session setting, like ``--kms-key``), through the one table of flags
(:data:`smtrain.api.arguments.FLAGS`); and every argument of those methods is a flag, but for what only
Python has (``logs=``). A usage error raised through the API is an ArgumentError naming the argument,
never a flag.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest

from smtrain.api.arguments import flags_of as arguments_of
from smtrain.api.arguments import pythonic
from smtrain.api.session import Session
from smtrain.core.errors import ArgumentError, UsageError

SESSION_SETTINGS = {"kms_key", "role", "region", "bucket", "backend", "home", "profile"}
# What only Python has: following the log as it runs, the rows predict encodes, returning before an endpoint
# is InService (the CLI's deploy always waits, and `plan deploy` must take the same flags).
PYTHON_ONLY = {"logs", "data", "wait"}


def flags_of(command: Callable[..., Any]) -> dict[str, str]:
    """A click command's long flags -> their parameter names (click's ``dest``)."""
    params = getattr(command, "params", [])
    return {next(o for o in p.opts if o.startswith("--")): str(p.name) for p in params
            if isinstance(p, click.Option) and any(o.startswith("--") for o in p.opts)}


def commands() -> dict[str, tuple[click.Command, Callable[..., Any]]]:
    from smtrain.cli.ops import register
    from smtrain.cli.process import evaluate, process
    from smtrain.cli.serve import deploy, predict
    from smtrain.cli.train import fit
    from smtrain.cli.transform import transform

    return {"fit": (fit, Session.fit), "deploy": (deploy, Session.deploy), "register": (register, Session.register),
            "predict": (predict, Session.predict), "transform": (transform, Session.transform),
            "process": (process, Session.process), "evaluate": (evaluate, Session.evaluate)}


CLI_ONLY = {"--json", "--verbose", "--debug", "--quiet", "--body", "--file"}  # output, and reading the body


KIND_COMMANDS = ["fit", "deploy", "register", "predict", "transform", "process", "evaluate"]


@pytest.mark.parametrize("name", KIND_COMMANDS)
def test_every_flag_is_an_argument_of_the_same_meaning(name: str) -> None:
    command, method = commands()[name]
    arguments = set(inspect.signature(method).parameters) - {"self"}
    if "options" in arguments:  # Session.evaluate passes **options on to Session.process
        arguments |= set(inspect.signature(Session.process).parameters)
    table = arguments_of(name)
    for flag in set(flags_of(command)) - CLI_ONLY:
        assert flag in table, f"{name} {flag}: not in smtrain.api.arguments.FLAGS"
        assert table[flag] in arguments | SESSION_SETTINGS, f"{name} {flag}: Session.{name} has no {table[flag]}="


@pytest.mark.parametrize("name", KIND_COMMANDS)
def test_every_argument_is_a_flag(name: str) -> None:
    command, method = commands()[name]
    table = arguments_of(name)
    flagged = {table[flag] for flag in flags_of(command) if flag in table}
    positional = {p.name for p in getattr(command, "params", []) if isinstance(p, click.Argument)}
    parameters = inspect.signature(method).parameters
    for argument in set(parameters) - {"self"} - PYTHON_ONLY:
        kind = parameters[argument].kind
        if kind is inspect.Parameter.VAR_KEYWORD:  # another method's arguments, checked with that method
            continue
        assert argument in flagged or (kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and positional), \
            f"Session.{name}({argument}=) has no flag on `smtrain {name}`"


@pytest.mark.parametrize("name", [*KIND_COMMANDS, "teardown"])
def test_every_method_is_documented_and_typed(name: str) -> None:
    method = getattr(Session, name)
    assert method.__doc__ and "Args:" in method.__doc__
    signature = inspect.signature(method)
    assert all(p.annotation is not inspect.Parameter.empty for n, p in signature.parameters.items() if n != "self")
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()), \
        f"Session.{name} hides its options behind **kwargs"


def test_flags_become_arguments_in_messages() -> None:
    assert pythonic("did you mean --source-dir entry_points?") == "did you mean source_dir='entry_points'?"
    assert pythonic("--channel train") == "channels['train']"
    assert pythonic("set --ttl to 60") == "set ttl_seconds= to 60"
    assert pythonic("--instance-type/--instance-count") == "instance_type=/instance_count="


def no_flags(error: BaseException) -> bool:
    """No CLI flag in the message, outside the `smtrain ...` commands it suggests."""
    return "--" not in re.sub(r"`[^`]*`", "", str(error))


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print('hi')\n")
    return Session(home=str(tmp_path / ".smtrain"), quiet=True)


BAD_FIT = [
    ({"source_dir": "missing"}, "source_dir"),
    ({"source_dir": "src", "channels": {"bad name": "src"}}, "channels"),
    ({"source_dir": "src", "channels": {"train": "nowhere"}}, "channels"),
    ({"source_dir": "src", "job_name": "no_underscores"}, "job_name"),
    ({"source_dir": "src", "instance_count": 0}, "instance_count"),
    ({"source_dir": "src", "max_runtime_seconds": 0}, "max_runtime_seconds"),
    ({"source_dir": "src", "hyperparameters": {"sagemaker_program": "x"}}, "hyperparameters"),
    ({"source_dir": "src", "environment": {"1BAD": "x"}}, "environment"),
    ({"source_dir": "src", "metric_definitions": {"acc": "("}}, "metric_definitions"),
]


@pytest.mark.parametrize(("arguments", "argument"), BAD_FIT, ids=[a for _, a in BAD_FIT])
def test_bad_fit_arguments_are_named(session: Session, arguments: dict[str, Any], argument: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        session.fit("train.py", **arguments)
    assert caught.value.argument == argument
    assert no_flags(caught.value), str(caught.value)
    assert f"{argument}" in str(caught.value)


def test_a_missing_entry_point_names_the_argument_and_the_folder(session: Session) -> None:
    with pytest.raises(ArgumentError) as caught:
        session.fit("trian.py", source_dir="src")
    assert caught.value.argument == "entry_point"
    assert "did you mean train.py?" in str(caught.value) and no_flags(caught.value)


BAD_DEPLOY = [
    ({"instance_count": 0}, "instance_count"),
    ({"endpoint_name": "bad_name"}, "endpoint_name"),
    ({"ttl_seconds": -5}, "ttl_seconds"),
]


@pytest.mark.parametrize(("arguments", "argument"), BAD_DEPLOY, ids=[a for _, a in BAD_DEPLOY])
def test_bad_deploy_arguments_are_named(session: Session, arguments: dict[str, Any], argument: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        session.deploy("some-job", **arguments)
    assert caught.value.argument == argument and no_flags(caught.value), str(caught.value)


def test_register_predict_and_teardown_raise_smtrain_errors(session: Session) -> None:
    from smtrain.core.errors import SmtrainError

    for call in (lambda: session.register("no-such-job", group="g"),
                 lambda: session.predict("no-such-endpoint", "1,2"),
                 lambda: session.predict("no-such-endpoint", "1,2", content_type="text/nonsense")):
        with pytest.raises(SmtrainError) as caught:
            call()
        assert no_flags(caught.value), str(caught.value)
    assert session.teardown("no-such-endpoint") == []


def test_a_session_the_cli_made_keeps_the_flags(session: Session) -> None:
    session.for_cli = True
    with pytest.raises(UsageError) as caught:
        session.fit("train.py", source_dir="missing")
    assert not isinstance(caught.value, ArgumentError) and "--source-dir" in str(caught.value)

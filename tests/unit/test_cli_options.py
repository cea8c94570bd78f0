"""CLI conventions: every command takes --json, every option says what it does, plan deploy mirrors deploy."""

from __future__ import annotations

import click

from smtrain.cli import cli
from smtrain.cli.docs import walk

# Commands owned elsewhere that have yet to take --json / describe every option (issue 10; see the report).


def leaf_commands() -> list[tuple[str, click.Command]]:
    return [(" ".join(path), command) for path, command, _ in walk(cli, ["smtrain"])
            if not isinstance(command, click.Group)]


def option_names(command: click.Command) -> set[str]:
    return {name for param in command.params if isinstance(param, click.Option) for name in param.opts}


def test_the_walk_reaches_the_lazily_loaded_commands() -> None:
    names = {name for name, _ in leaf_commands()}
    assert {"smtrain fit", "smtrain deploy", "smtrain plan deploy", "smtrain teardown"} <= names


def test_every_command_takes_json() -> None:
    missing = [name for name, command in leaf_commands()
               if "--json" not in option_names(command)]
    assert missing == []


def test_every_option_has_help_text() -> None:
    missing = [f"{name} {param.opts[0]}" for name, command in leaf_commands()
               for param in command.params if isinstance(param, click.Option) and not param.help]
    assert missing == []


def test_plan_deploy_takes_every_deploy_option() -> None:
    commands = dict(leaf_commands())
    assert option_names(commands["smtrain deploy"]) == option_names(commands["smtrain plan deploy"])


def test_plan_fit_takes_every_fit_option_but_the_run_ones() -> None:
    commands = dict(leaf_commands())
    run_only = {"--wait", "--no-wait", "--verbose"}
    assert option_names(commands["smtrain fit"]) - run_only == option_names(commands["smtrain plan fit"])
    assert "--max-runtime" in option_names(commands["smtrain fit"])


def test_every_command_takes_quiet_and_debug() -> None:
    missing = [name for name, command in leaf_commands() if not {"--quiet", "--debug"} <= option_names(command)]
    assert missing == []


def test_the_top_level_takes_every_global_option() -> None:
    assert {"--backend", "--region", "--profile", "--role", "--bucket", "--home", "--debug", "--json",
            "--quiet"} <= option_names(cli)

"""The ``smtrain`` command: a thin shell over :mod:`smtrain.api.session`.

Commands are loaded lazily (click's documented ``LazyGroup`` pattern): running
one command imports only its own module, and each command imports what it
needs when it runs. Global options (``--backend``, ``--home``, ``--json``, ...)
work before or after the command name.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from smtrain.cli.common import GLOBAL_OPTIONS_HELP, global_options
from smtrain.core.errors import report_error
from smtrain.core.spelling import closest

# name -> "module:attribute"; the listing order of `smtrain --help` is alphabetical.
COMMANDS = {
    "prepare": "smtrain.cli.train:prepare",
    "fit": "smtrain.cli.train:fit",
    "tune": "smtrain.cli.tune:tune",
    "transform": "smtrain.cli.transform:transform",
    "process": "smtrain.cli.process:process",
    "evaluate": "smtrain.cli.process:evaluate",
    "logs": "smtrain.cli.train:logs",
    "stop": "smtrain.cli.train:stop",
    "ls": "smtrain.cli.listing:list_command",
    "deploy": "smtrain.cli.serve:deploy",
    "predict": "smtrain.cli.serve:predict",
    "teardown": "smtrain.cli.serve:teardown",
    "quickstart": "smtrain.cli.quickstart:quickstart",
    "init": "smtrain.cli.init:init",
    "register": "smtrain.cli.ops:register",
    "plan": "smtrain.cli.ops:plan",
    "models": "smtrain.cli.models:models",
    "approve": "smtrain.cli.models:approve",
    "reject": "smtrain.cli.models:reject",
    "doctor": "smtrain.cli.doctor:doctor",
    "pipeline": "smtrain.cli.pipeline:pipeline",
    "show": "smtrain.cli.runs:show",
    "diff": "smtrain.cli.runs:diff",
    "checkout": "smtrain.cli.runs:checkout",
    "report": "smtrain.cli.ci:report",
    "ci": "smtrain.cli.ci:ci",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used (or listed by --help and completion)."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            module_name, attribute = self.lazy_commands[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module_name), attribute)
            return command
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            matches = closest(args[0], self.list_commands(ctx), n=1) if args else []
            suggestion = matches[0] if matches else ""
            if suggestion and "No such command" in exc.message:
                raise click.UsageError(f"{exc.message.rstrip('.')}. Did you mean {suggestion!r}?", ctx) from None
            raise


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100, "terminal_width": 100},
    epilog=GLOBAL_OPTIONS_HELP,
)
@click.version_option(package_name="smtrain")
@global_options
def cli(**settings: Any) -> None:
    """Train and deploy scikit-learn models on SageMaker, or on this machine.

    The local backend (the default) needs no AWS account and no Docker. Start
    with `smtrain quickstart`, which prepares the Palmer penguins data, trains,
    deploys, predicts and tears down, all locally.
    """
    click.get_current_context().obj = {k: v for k, v in settings.items() if v not in (None, False)}


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: smtrain errors become one clear message and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("SMTRAIN_DEBUG") == "1"
    try:
        result = cli.main(args=args, prog_name="smtrain", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        sys.exit(report_error(exc, debug))
    sys.exit(result if isinstance(result, int) else 0)

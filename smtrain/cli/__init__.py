"""The ``smtrain`` command: a thin shell over :mod:`smtrain.api`.

Only click and the standard library are imported here, so ``smtrain --help``
stays instant; each command imports what it needs when it runs.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from smtrain.cli import ops, serve, train
from smtrain.cli.ci import COMMANDS as CI_COMMANDS
from smtrain.cli.common import GLOBAL_OPTIONS_HELP
from smtrain.cli.listing import list_command
from smtrain.cli.runs import COMMANDS as RUN_COMMANDS


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100, "terminal_width": 100},
    epilog=GLOBAL_OPTIONS_HELP,
)
@click.version_option(package_name="smtrain")
def cli() -> None:
    """Train and deploy scikit-learn models on SageMaker, or on this machine.

    The local backend (the default) needs no AWS account and no Docker. Start
    with `smtrain quickstart`, which prepares the Palmer penguins data, trains,
    deploys, predicts and tears down, all locally.
    """


for command in (*train.COMMANDS, *serve.COMMANDS, *ops.COMMANDS):
    cli.add_command(command)
cli.add_command(list_command)
for command in (*RUN_COMMANDS, *CI_COMMANDS):
    cli.add_command(command)


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


def report_error(exc: Exception, debug: bool) -> int:
    from smtrain.errors import SmtrainError

    if debug:
        traceback.print_exc()
    if isinstance(exc, SmtrainError):
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    click.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
    if not debug:
        click.echo("  hint: run again with --debug for the traceback", err=True)
    return 1

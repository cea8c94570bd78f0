"""Options every command shares, and output helpers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from smtrain.core.config import STORE_LOCATION

if TYPE_CHECKING:
    from smtrain.api.session import Session

GLOBAL_OPTIONS_HELP = (
    "Every command takes --backend local|sagemaker, --region, --profile, --role, --bucket, --home, --debug, "
    "--json and --quiet, before or after its name. "
    "Settings come from flags, then the environment and .env (SMTRAIN_*), then smtrain.toml."
)
SETTING_OPTIONS = ("backend", "region", "profile", "home", "role", "bucket", "kms_key")
KMS_KEY_OPTION = click.option(
    "--kms-key", help="KMS key for SSE-KMS on uploads and the job output (sagemaker backend; SMTRAIN_KMS_KEY).")


def setting_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The shared settings flags and --debug, as click options."""
    options = [
        click.option("--backend", type=click.Choice(["local", "sagemaker"]), help="Where to run (default: local)."),
        click.option("--region", help="AWS region (sagemaker backend)."),
        click.option("--profile", help="AWS profile (sagemaker backend)."),
        click.option("--role", help="SageMaker execution role: an ARN or a role name (sagemaker backend)."),
        click.option("--bucket", help="S3 bucket for data and artifacts (default: the SDK's default bucket)."),
        click.option("--home", type=click.Path(file_okay=False),
                     help=f"Local state folder (default: {STORE_LOCATION})."),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


QUIET_OPTION = click.option("--quiet", is_flag=True,
                            help="Print only results, warnings and errors: no progress, spinner, log or hints.")
GLOBAL_JSON_OPTION = click.option("--json", "as_json", is_flag=True,
                                  help="Print the command's result as JSON on stdout (as the command's --json).")
QUIET_KEY = "smtrain.quiet"


def global_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The same flags on the top-level group: `smtrain --backend sagemaker ls` works like `smtrain ls --backend ...`."""
    return setting_options(GLOBAL_JSON_OPTION(QUIET_OPTION(command)))


def run_command(command: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Run a command's body: --json and --quiet count before or after its name; misspelt settings are warned of.

    Called only once click has parsed the command line, so `--help` never pays for the checks.
    """
    given_before = given_before_command()
    quiet = bool(kwargs.pop("quiet", False) or given_before.get("quiet"))
    if "as_json" in kwargs and given_before.get("as_json"):
        kwargs["as_json"] = True
    click.get_current_context().meta[QUIET_KEY] = quiet
    warn_misspelt_settings()
    if not quiet:
        return command(**kwargs)
    from smtrain.core.progress import silenced

    with silenced():
        return command(**kwargs)


def warn_misspelt_settings() -> None:
    """One warning per unknown SMTRAIN_* variable (environment or .env), naming the closest setting."""
    from smtrain.core.config import misspelt_settings

    for warning in misspelt_settings():
        click.echo(f"warning: {warning}", err=True)


def is_quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(QUIET_KEY))


def given_before_command() -> dict[str, Any]:
    """The global options given before the command's name (`smtrain --home X ls`)."""
    return dict(click.get_current_context().find_root().obj or {})


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared settings flags and --debug to a command; a flag given before the command name counts too."""

    @setting_options
    @QUIET_OPTION
    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        kwargs.pop("debug")
        given_before = given_before_command()
        for name in SETTING_OPTIONS:
            if kwargs.get(name) is None and given_before.get(name) is not None:
                kwargs[name] = given_before[name]
        return run_command(command, kwargs)

    return wrapper


def output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--quiet and --debug for a command that reads no settings (`ci init`); --json counts before its name too."""

    @click.option("--debug", is_flag=True, help="Show tracebacks.")
    @QUIET_OPTION
    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        kwargs.pop("debug")
        return run_command(command, kwargs)

    return wrapper


def make_session(settings: dict[str, Any], *, quiet: bool = False, **extra: Any) -> Session:
    """A Session from the shared flags (popped from ``settings``) plus ``extra`` overrides."""
    from smtrain.api.session import Session

    overrides = {name: settings.pop(name) for name in SETTING_OPTIONS if name in settings}
    overrides.update(extra)
    session = Session(quiet=quiet or is_quiet(), **{k: v for k, v in overrides.items() if v is not None})
    session.for_cli = True  # errors name the flags typed
    return session


def to_jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "read"):
        return None
    return str(value)


def emit_json(obj: Any) -> None:
    from smtrain.core.metric_values import dumps

    click.echo(dumps(obj, indent=2, default=to_jsonable))  # strict JSON: a nan metric is null


def info(message: str) -> None:
    """A line for the user on stderr; --quiet leaves it out."""
    if not is_quiet():
        click.echo(message, err=True)


def important(message: str) -> None:
    """A line on stderr that --quiet keeps: why a command failed."""
    click.echo(message, err=True)

"""Options every command shares, and output helpers."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from smtrain.api import Session

GLOBAL_OPTIONS_HELP = (
    "Every command takes --backend local|sagemaker, --region, --profile, --role, --bucket, --home, --debug, "
    "before or after its name. "
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
                     help="Local state folder (default: <project>/.smtrain)."),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def global_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The same flags on the top-level group: `smtrain --backend sagemaker ls` works like `smtrain ls --backend ...`."""
    return setting_options(command)


def given_before_command() -> dict[str, Any]:
    """The global options given before the command's name (`smtrain --home X ls`)."""
    return dict(click.get_current_context().find_root().obj or {})


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared settings flags and --debug to a command; a flag given before the command name counts too."""

    @setting_options
    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        kwargs.pop("debug")
        given_before = given_before_command()
        for name in SETTING_OPTIONS:
            if kwargs.get(name) is None and given_before.get(name) is not None:
                kwargs[name] = given_before[name]
        return command(**kwargs)

    return wrapper


def make_session(settings: dict[str, Any], *, quiet: bool = False, **extra: Any) -> Session:
    """A Session from the shared flags (popped from ``settings``) plus ``extra`` overrides."""
    from smtrain.api import Session

    overrides = {name: settings.pop(name) for name in SETTING_OPTIONS if name in settings}
    overrides.update(extra)
    return Session(quiet=quiet, **{k: v for k, v in overrides.items() if v is not None})


def to_jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "read"):
        return None
    return str(value)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=to_jsonable))


def info(message: str) -> None:
    click.echo(message, err=True)

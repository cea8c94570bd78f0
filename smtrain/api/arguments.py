"""The Python API speaks Python: errors name keyword arguments (``source_dir=``), not the CLI's flags.

Errors are written once, naming the flag a user of the CLI typed (``--source-dir``). At the API's
boundary, :func:`speaks_python` rewrites each flag of :data:`FLAGS` to the argument that carries the
same value, and raises an :class:`~smtrain.core.errors.ArgumentError` naming it. A session the CLI made
keeps the flags. :data:`FLAGS` is also the one table of which flag is which argument: a unit test holds
every ``fit``/``deploy`` flag, this table and the methods' signatures together.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

from smtrain.core.errors import ArgumentError, UsageError

F = TypeVar("F", bound=Callable[..., Any])

# flag -> the keyword argument (of the method, or of Session(...) for the settings flags)
FLAGS = {
    "--entry-point": "entry_point", "--source-dir": "source_dir", "--channel": "channels",
    "--hp": "hyperparameters", "--job-name": "job_name", "--max-runtime": "max_runtime_seconds",
    "--metric-definition": "metric_definitions", "--env": "environment", "--tag": "tags",
    "--instance-type": "instance_type", "--instance-count": "instance_count", "--image-uri": "image_uri",
    "--framework-version": "framework_version", "--spot": "spot", "--max-wait": "max_wait_seconds",
    "--checkpoint-uri": "checkpoint_uri", "--volume-kms-key": "volume_kms_key", "--output-kms-key": "output_kms_key",
    "--kms-key": "kms_key", "--subnet": "subnets", "--security-group": "security_groups",
    "--network-isolation": "network_isolation", "--endpoint-name": "endpoint_name",
    "--serverless-memory": "serverless_memory_mb", "--serverless-concurrency": "serverless_max_concurrency",
    "--ttl": "ttl_seconds", "--workers": "workers", "--group": "group", "--approve": "approve",
    "--content-type": "content_type", "--accept": "accept", "--wait": "wait", "--role": "role",
    "--keep-alive": "keep_alive_seconds", "--evaluation": "evaluation", "--sharded": "sharded",
    # smtrain tune (Session.tune)
    "--range": "ranges", "--objective": "objective", "--minimize": "minimize", "--max-jobs": "max_jobs",
    "--max-parallel": "max_parallel", "--strategy": "strategy", "--early-stopping": "early_stopping",
    "--random-seed": "random_seed", "--warm-start": "warm_start",
    # smtrain process / evaluate (Session.process, Session.evaluate)
    "--code": "code", "--input": "inputs", "--output": "outputs", "--arg": "arguments", "--test": "test",
    "--region": "region", "--bucket": "bucket", "--backend": "backend", "--home": "home", "--profile": "profile",
}
_FLAG = re.compile(r"(?<![\w-])(" + "|".join(re.escape(f) for f in sorted(FLAGS, key=len, reverse=True)) +
                   r")(?![\w-])(?: (?!-)([^\s,;:?)]+))?")


_WORDS = frozenset(("a", "an", "and", "as", "at", "be", "by", "for", "from", "if", "in", "is", "must", "needs",
                    "of", "on", "or", "the", "to", "when", "with"))


def pythonic(text: str) -> str:
    """``--source-dir src`` -> ``source_dir='src'``; a lone ``--job-name`` -> ``job_name=``."""

    def argument(match: re.Match[str]) -> str:
        name, value = FLAGS[match.group(1)], match.group(2)
        if value is None or value in _WORDS:  # "set --ttl to 60": the flag alone
            return f"{name}=" + (f" {value}" if value else "")
        if name in ("channels", "tags", "hyperparameters", "environment", "metric_definitions", "ranges", "inputs",
                    "outputs") \
                and "=" not in value:
            return f"{name}[{value!r}]"
        return f"{name}={value!r}"

    return _FLAG.sub(argument, text)


def as_argument_error(error: UsageError) -> ArgumentError:
    """The same error for a Python caller: arguments named instead of flags."""
    flag = _FLAG.search(error.where) or _FLAG.search(error.what)
    return ArgumentError(pythonic(error.what), argument=FLAGS[flag.group(1)] if flag else "",
                         where=pythonic(error.where), hint=pythonic(error.hint))


def speaks_python(method: F) -> F:
    """A Session method whose usage errors name its arguments, unless the CLI made the session."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ArgumentError:
            raise
        except UsageError as error:
            texts = (error.where, error.what, error.hint)
            if getattr(self, "for_cli", False) or not any(_FLAG.search(text) for text in texts):
                raise
            if type(error) is not UsageError:  # a more precise kind (AwsConfigError): keep it, say it in Python
                error.what, error.where, error.hint = pythonic(error.what), pythonic(error.where), pythonic(error.hint)
                error.args = (error.render(),)
                raise
            raise as_argument_error(error) from error.__cause__

    return call  # type: ignore[return-value]

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
    # smtrain transform (Session.transform; its --input and --output are in METHOD_FLAGS)
    "--split-type": "split_type", "--compression": "compression",
    "--max-payload": "max_payload_mb", "--max-concurrent": "max_concurrent", "--assemble-with": "assemble_with",
    "--input-filter": "input_filter", "--output-filter": "output_filter", "--join-source": "join_source",
    "--region": "region", "--bucket": "bucket", "--backend": "backend", "--home": "home", "--profile": "profile",
}
# Where one flag carries a different argument in one method: Session.transform takes one input, not several.
METHOD_FLAGS = {"transform": {"--input": "input", "--output": "output_uri"}}


def flags_of(method: str) -> dict[str, str]:
    """Which flag is which argument of the Session method ``method``."""
    return {**FLAGS, **METHOD_FLAGS.get(method, {})}


_FLAG = re.compile(r"(?<![\w-])(" + "|".join(re.escape(f) for f in sorted(FLAGS, key=len, reverse=True)) +
                   r")(?![\w-])(?: (?!-)([^\s,;:?)]+))?")


_WORDS = frozenset(("a", "an", "and", "as", "at", "be", "by", "for", "from", "if", "in", "is", "must", "needs",
                    "of", "on", "or", "the", "to", "when", "with"))


def pythonic(text: str, flags: dict[str, str] = FLAGS) -> str:
    """``--source-dir src`` -> ``source_dir='src'``; a lone ``--job-name`` -> ``job_name=``."""

    def argument(match: re.Match[str]) -> str:
        name, value = flags[match.group(1)], match.group(2)
        if value is None or value in _WORDS:  # "set --ttl to 60": the flag alone
            return f"{name}=" + (f" {value}" if value else "")
        if name in ("channels", "tags", "hyperparameters", "environment", "metric_definitions", "ranges", "inputs",
                    "outputs") \
                and "=" not in value:
            return f"{name}[{value!r}]"
        return f"{name}={value!r}"

    return _FLAG.sub(argument, text)


def as_argument_error(error: UsageError, flags: dict[str, str] = FLAGS) -> ArgumentError:
    """The same error for a Python caller: arguments named instead of flags."""
    flag = _FLAG.search(error.where) or _FLAG.search(error.what)
    return ArgumentError(pythonic(error.what, flags), argument=flags[flag.group(1)] if flag else "",
                         where=pythonic(error.where, flags), hint=pythonic(error.hint, flags))


def speaks_python(method: F) -> F:
    """A Session method whose usage errors name its arguments, unless the CLI made the session."""

    flags = flags_of(method.__name__)

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
                error.what, error.where, error.hint = (pythonic(error.what, flags), pythonic(error.where, flags),
                                                       pythonic(error.hint, flags))
                error.args = (error.render(),)
                raise
            raise as_argument_error(error, flags) from error.__cause__

    return call  # type: ignore[return-value]

"""Every boto3 call smtrain makes goes through here.

- :class:`AwsSession` builds the boto3 session from :class:`~smtrain.core.config.Config`
  (profile, region) and hands out cached clients with standard retries. It
  never passes ``endpoint_url``, so ``AWS_ENDPOINT_URL`` (and the per-service
  ``AWS_ENDPOINT_URL_<SERVICE>``) keep working as boto3 documents them.
- Every call runs under :func:`smtrain.aws.translation.translating`, which turns botocore
  errors into :class:`~smtrain.core.errors.SmtrainError` with where / what / hint.
- :func:`iter_job_log` streams a job's CloudWatch log.
- :func:`default_bucket` finds (and creates) ``sagemaker-{region}-{account}``
  as the SageMaker SDK does.

Nothing here creates a client or reads configuration at import time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from smtrain.aws.translation import ACCESS_DENIED_CODES, AwsConfigError, translate, translating
from smtrain.core.config import Config
from smtrain.core.errors import AwsError


class AwsSession:
    """A boto3 session plus cached clients, built lazily from a profile and a region."""

    def __init__(self, *, region: str = "", profile: str = "", boto_session: Any = None) -> None:
        self._region = region
        self._profile = profile
        self._boto = boto_session
        self._clients: dict[str, Any] = {}
        self._account = ""
        self._region_checked = False

    @classmethod
    def from_config(cls, config: Config) -> AwsSession:
        return cls(region=config.region, profile=config.profile)

    @property
    def boto(self) -> Any:
        if self._boto is None:
            import boto3

            with translating(where=f"AWS profile {self._profile}" if self._profile else "AWS session"):
                self._boto = boto3.session.Session(
                    profile_name=self._profile or None, region_name=self._region or None
                )
        return self._boto

    @property
    def region(self) -> str:
        region = self._region or self.boto.region_name
        if not region:
            raise AwsConfigError(
                "no AWS region configured", code="NoRegion", where="AWS session",
                hint="set SMTRAIN_REGION or AWS_REGION, or a region in your AWS profile",
            )
        if not self._region_checked:
            check_region(self.boto, str(region))
            self._region_checked = True
        return str(region)

    def client(self, service: str) -> Any:
        """A cached client with standard retry mode (3 attempts, backoff, throttling-aware)."""
        if service not in self._clients:
            from botocore.config import Config as BotoConfig

            config = BotoConfig(retries={"mode": "standard"}, user_agent_extra="smtrain")
            with translating(where=f"{service} client"):
                self._clients[service] = self.boto.client(service, region_name=self.region, config=config)
        return self._clients[service]

    def account_id(self) -> str:
        if not self._account:
            with translating(where="sts GetCallerIdentity"):
                self._account = str(self.client("sts").get_caller_identity()["Account"])
        return self._account


def check_region(boto: Any, region: str) -> None:
    """Refuse a region SageMaker does not run in (a typo, an availability zone such as ``us-east-1a``).

    Left alone, botocore builds a host name for it and the first call fails with
    "could not connect" -- or, behind AWS_ENDPOINT_URL, with whatever the server
    makes of it. botocore's endpoint data lists SageMaker's regions in every
    partition; a region newer than the installed botocore asks for an upgrade.
    """
    from smtrain.aws.regions import sagemaker_regions

    known = sagemaker_regions(boto)
    if not known or region in known:
        return
    import difflib

    import botocore

    close = difflib.get_close_matches(region, known, n=1)
    suggestion = f"did you mean {close[0]}? Otherwise " if close else ""
    raise AwsConfigError(
        f"SageMaker has no region {region!r}", code="UnknownRegion", where="AWS region",
        hint=f"{suggestion}set SMTRAIN_REGION or AWS_REGION to a region such as eu-west-1 (not an availability "
             f"zone); if {region} is newer than botocore {botocore.__version__}, upgrade boto3",
    )


# -- training logs ---------------------------------------------------------------


def iter_job_log(
    logs: Any,
    group: str,
    prefix: str,
    *,
    follow: bool,
    is_done: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 5.0,
) -> Iterator[str]:
    """Lines of a job's CloudWatch log streams (``prefix`` is ``{job}/``; streams ``{job}/algo-N-...``),
    oldest first.

    Without ``follow``: what is there now. With it: poll until ``is_done()``,
    then read once more after one more interval, because CloudWatch delivers
    the last lines a few seconds after the job ends (the SDK does the same).
    Each stream is read from its own ``nextForwardToken``, so nothing repeats;
    with several instances, lines carry the stream's host as a prefix.
    """
    tokens: dict[str, str | None] = {}
    final_reads = 0
    while True:
        if follow and (final_reads or is_done()):
            final_reads += 1
        yield from _read_new_lines(logs, group, prefix, tokens)
        if not follow or final_reads >= 2:
            return
        sleep(poll_seconds)


def _read_new_lines(logs: Any, group: str, prefix: str, tokens: dict[str, str | None]) -> Iterator[str]:
    for stream in _log_streams(logs, group, prefix):
        tokens.setdefault(stream, None)
    events: list[tuple[int, str, str]] = []
    for stream in sorted(tokens):
        events += [(event["timestamp"], stream, event["message"])
                   for event in _new_events(logs, group, stream, tokens)]
    events.sort(key=lambda event: event[0])
    several = len(tokens) > 1
    for _, stream, message in events:
        host = stream.rsplit("/", 1)[-1]
        for line in message.rstrip("\n").split("\n"):
            yield f"[{host}] {line}" if several else line


def _log_streams(logs: Any, group: str, prefix: str) -> list[str]:
    from botocore.exceptions import ClientError

    if not group:  # a kind with no log of its own (a tuning job: its trials log as training jobs)
        return []
    names: list[str] = []
    params: dict[str, Any] = {"logGroupName": group, "logStreamNamePrefix": prefix}
    with translating(where=f"log of {prefix.rstrip('/')}"):
        while True:
            try:
                page = logs.describe_log_streams(**params)
            except ClientError as exc:
                # The group appears with the account's first log of the kind; until then, no lines.
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return []
                raise
            names += [stream["logStreamName"] for stream in page.get("logStreams", [])]
            if not page.get("nextToken"):
                return names
            params["nextToken"] = page["nextToken"]


def _new_events(logs: Any, group: str, stream: str, tokens: dict[str, str | None]) -> Iterator[dict[str, Any]]:
    """Events after the stream's saved token; AWS repeats the token once the stream is drained."""
    with translating(where=f"log stream {stream}"):
        while True:
            params: dict[str, Any] = {"logGroupName": group, "logStreamName": stream,
                                      "startFromHead": True}
            if tokens[stream]:
                params["nextToken"] = tokens[stream]
            page = logs.get_log_events(**params)
            yield from page.get("events", [])
            token = page.get("nextForwardToken")
            if not token or token == tokens[stream]:
                return
            tokens[stream] = token


# -- listing ---------------------------------------------------------------------


def iterate_pages(client: Any, method: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every page of a ``List*`` call: botocore's paginator where the client has one
    (boto3), else following ``NextToken`` (the local backend's client)."""
    can_paginate = getattr(client, "can_paginate", None)
    if can_paginate and can_paginate(method):
        yield from client.get_paginator(method).paginate(**params)
        return
    params = dict(params)
    while True:
        page = dict(getattr(client, method)(**params))
        yield page
        if not page.get("NextToken"):
            return
        params["NextToken"] = page["NextToken"]


# -- the execution role -----------------------------------------------------------


def expand_role(session: AwsSession, role: str) -> str:
    """A role name becomes its ARN (``iam:GetRole``), as the SDK's ``expand_role`` does;
    an ARN (anything with a ``/``) is used as given."""
    if "/" in role:
        return role
    from botocore.exceptions import ClientError

    where = f"role {role}"
    with translating(where=where):
        iam = session.client("iam")
        try:
            return str(iam.get_role(RoleName=role)["Role"]["Arn"])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ACCESS_DENIED_CODES:
                raise AwsError(f"you may not look up IAM role {role!r} (iam:GetRole)", code=str(code), where=where,
                               hint="set SMTRAIN_ROLE (or --role) to the role's full ARN, which needs no lookup"
                               ) from exc
            if code != "NoSuchEntity":
                raise
            raise AwsConfigError(
                f"IAM role {role!r} does not exist in this account", code="NoSuchEntity", where=where,
                hint="check the name in the IAM console, or set SMTRAIN_ROLE (or --role) to the role's full ARN",
            ) from exc


# -- the SDK's default bucket ----------------------------------------------------


def default_bucket_name(region: str, account: str) -> str:
    return f"sagemaker-{region}-{account}"


def default_bucket(session: AwsSession) -> str:
    """``sagemaker-{region}-{account}``, created if missing, as the SageMaker SDK does."""
    region, account = session.region, session.account_id()
    name = default_bucket_name(region, account)
    ensure_bucket(session.client("s3"), name, region=region, owner=account)
    return name


def ensure_bucket(s3: Any, name: str, *, region: str, owner: str) -> bool:
    """Create ``name`` unless it exists; True if created. ``owner`` guards against a
    bucket of that predictable name squatted by another account (the SDK checks too)."""
    from botocore.exceptions import ClientError

    where = f"s3://{name}"
    try:
        s3.head_bucket(Bucket=name, ExpectedBucketOwner=owner)
        return False
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "403":
            raise AwsError(f"bucket {name} exists but is not yours (or you may not read it)", code=code,
                           where=where, hint="set SMTRAIN_BUCKET to a bucket your account owns") from exc
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise translate(exc, where=where) from exc
    return _create_bucket(s3, name, region, where)


def _create_bucket(s3: Any, name: str, region: str, where: str) -> bool:
    from botocore.exceptions import ClientError

    params: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":  # us-east-1 rejects its own name as a LocationConstraint
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "BucketAlreadyOwnedByYou":
            return False
        if error.get("Code") == "OperationAborted" and "conflicting conditional operation" in error.get("Message", ""):
            return False  # another process is creating it right now
        raise translate(exc, where=where) from exc
    return True

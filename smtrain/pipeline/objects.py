"""What answers a state machine's ``s3:getObject``: the local store's objects, or S3's.

Step Functions' AWS SDK integration returns the object's content as a string in ``Body``, and names a
missing key ``S3.NoSuchKeyException`` (its errors are ``<Service>.<Code>Exception``). The local store
(``<home>/store``) holds objects at ``store/<bucket>/<key>``, so a ``file://`` URI under it has a bucket
and a key as an ``s3://`` URI has.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from smtrain.core.errors import UsageError

from .paths import StatesError

MAX_BODY = 256 * 1024  # Step Functions' largest state payload: a bigger object cannot be passed on


def location(uri: str, store: Path) -> tuple[str, str]:
    """``(bucket, key)`` of an ``s3://`` URI, or of a ``file://`` URI under the local ``store``."""
    from smtrain.core.uris import split_s3, to_path

    if uri.startswith("s3://"):
        return split_s3(uri)
    path = to_path(uri).resolve()
    try:
        parts = path.relative_to(store.resolve()).parts
    except ValueError:
        parts = ()
    if len(parts) < 2:
        raise UsageError(f"{uri} is not in the local store {store}, so the state machine cannot read it",
                         where=uri, hint="leave the pipeline's output root at its default (the store)")
    return parts[0], "/".join(parts[1:]) + ("/" if uri.endswith("/") else "")


def missing(bucket: str, key: str) -> StatesError:
    return StatesError("S3.NoSuchKeyException", f"The specified key does not exist. (s3://{bucket}/{key})")


class StoreObjects:
    """The local store's objects."""

    def __init__(self, store: Path) -> None:
        self.store = store.resolve()

    def read(self, bucket: str, key: str) -> str:
        relative = PurePosixPath(bucket, key)
        if relative.is_absolute() or ".." in relative.parts:
            raise missing(bucket, key)
        path = self.store.joinpath(*relative.parts)
        if not path.is_file():
            raise missing(bucket, key)
        return _text(path.read_bytes(), bucket, key)


class S3Objects:
    """S3's objects, through a boto3 client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def read(self, bucket: str, key: str) -> str:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_BODY + 1)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404"):
                raise missing(bucket, key) from exc
            raise StatesError(f"S3.{code}Exception", str(exc)) from exc
        return _text(body, bucket, key)


def _text(body: bytes, bucket: str, key: str) -> str:
    if len(body) > MAX_BODY:
        raise StatesError("States.DataLimitExceeded", f"s3://{bucket}/{key} is over {MAX_BODY} bytes")
    return body.decode("utf-8", "replace")

"""URIs of artifacts: ``s3://bucket/key`` on SageMaker, ``file:///abs/path`` locally."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from smtrain.core.errors import UsageError


def is_file_uri(uri: str) -> bool:
    return uri.startswith("file://")


def to_path(uri: str) -> Path:
    """The local path of a ``file://`` URI."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise UsageError(f"{uri!r} is not a file:// URI", hint="the local backend reads file:// URIs or plain paths")
    return Path(unquote(parsed.path))


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise UsageError(f"{uri!r} is not an s3:// URI", hint="write s3://BUCKET/KEY")
    return parsed.netloc, parsed.path.lstrip("/")

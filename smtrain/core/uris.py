"""URIs of artifacts: ``s3://bucket/key`` on SageMaker, ``file:///abs/path`` locally."""

from __future__ import annotations

import re
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


DOT_SEGMENTS = (".", "..")
PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9!_.*'()-]+")
PREFIX_MAX = 256


def check_prefix(prefix: str, *, where: str) -> str:
    """An S3 key prefix that stays under its bucket (and under the local store): S3's safe characters,
    ``/``-separated, no empty, ``.`` or ``..`` segment (so no leading ``/`` either)."""
    segments = prefix.rstrip("/").split("/")
    bad = [s for s in segments if s in DOT_SEGMENTS or not PREFIX_SEGMENT.fullmatch(s)]
    if bad or len(prefix) > PREFIX_MAX:
        raise UsageError(
            f"invalid prefix {prefix!r}" + (f": segment {bad[0]!r}" if bad else ""), where=where,
            hint=f"use at most {PREFIX_MAX} of A-Z a-z 0-9 ! _ . * ' ( ) - in '/'-separated segments, "
                 "none of them '.' or '..'")
    return prefix

"""What Python 3.10 lacks of the standard library smtrain uses, in one place (3.10 is every SageMaker
notebook instance's kernel)."""

from __future__ import annotations

import hashlib
import sys
from typing import IO, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

__all__ = ["file_sha256", "tomllib"]

CHUNK_BYTES = 1 << 20


def file_sha256(handle: IO[bytes]) -> Any:
    """``hashlib.file_digest(handle, "sha256")`` (3.11), read in chunks on 3.10."""
    if sys.version_info >= (3, 11):
        return hashlib.file_digest(handle, "sha256")
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK_BYTES):
        digest.update(chunk)
    return digest

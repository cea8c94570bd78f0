"""Incremental upload of a directory to S3 or to the local store.

A file is sent only when its content changed. On S3 the content's SHA-256
travels with the object as user metadata (``x-amz-meta-sha256``); one
ListObjectsV2 gives every key's size and ETag, so a missing or resized object
is uploaded at once, and a same-size object whose ETag is the MD5 of the local
file (a single-part upload without KMS) is known current without another
request. Only the rest cost a HeadObject: a multipart or KMS ETag is not a
digest of the content, so there the stored SHA-256 decides.

Nothing half-written is ever visible under a final name: boto3 aborts a
multipart upload that fails (S3 shows a key only on CompleteMultipartUpload),
and a ``file://`` copy goes to a temporary file that ``os.replace`` renames.

What is sent follows :func:`smtrain.files.packing.scan_data`: ignore files do not
apply (data is often git-ignored), but ``.env`` files, links leading out of the
folder (or to a folder, or dangling) and the smtrain home never leave; each is
listed in :attr:`SyncReport.warnings`. A link to a file inside the folder is
sent as that file's content.

Local digests are remembered between syncs (:mod:`smtrain.files.digests`): an
unchanged re-sync reads no file at all. A file below the multipart threshold
goes up in one PutObject carrying its SHA-256 as the request's checksum, so S3
verifies the bytes it received against the digest smtrain recorded (and botocore
computes no checksum of its own); the ETag that comes back is the MD5 that the
next sync compares with the listing.
"""

from __future__ import annotations

import base64
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from smtrain.aws.translation import translating
from smtrain.backends.base import SyncReport
from smtrain.core.compat import file_sha256
from smtrain.core.errors import UsageError
from smtrain.core.uris import is_file_uri, split_s3, to_path
from smtrain.files.digests import DigestCache, Digests, compute
from smtrain.files.packing import open_regular, scan_data
from smtrain.files.private import make_private_dirs, private_mode

HASH_KEY = "sha256"
CHUNK = 1024 * 1024
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNKSIZE = 16 * 1024 * 1024
PARALLEL = 10  # as `aws s3 sync` (max_concurrent_requests)
PLAIN_ETAG = re.compile(r"^[0-9a-f]{32}$")

Progress = Callable[[int], None]


@dataclass
class LocalFile:
    """A file to sync; its digests are remembered ones, or computed when a comparison needs them."""

    path: Path
    relative: str
    known: Digests

    @classmethod
    def at(cls, path: Path, relative: str) -> LocalFile:
        return cls(path, relative, Digests(path, path.stat()))

    @property
    def size(self) -> int:
        return self.known.stat.st_size

    @property
    def digest(self) -> str:
        """SHA-256, hex."""
        if not self.known.sha256:
            self._read("sha256")
        return self.known.sha256

    @property
    def md5(self) -> str:
        if not self.known.md5:
            self._read("md5", *([] if self.known.sha256 else ["sha256"]))  # one read serves both
        return self.known.md5

    def _read(self, *algorithms: str) -> None:
        started = time.time_ns()
        with open_regular(self.relative, self.path) as handle:
            self.known.learn(started, **compute(handle, algorithms))


class Target(Protocol):
    uri: str

    def is_current(self, file: LocalFile) -> bool: ...

    def put(self, file: LocalFile, advance: Progress) -> None: ...


def sync_directory(
    local_dir: Path,
    uri: str,
    *,
    s3: Any = None,
    progress: bool = True,
    transfer_config: Any = None,
    kms_key: str = "",
    home: Path | None = None,
) -> SyncReport:
    """Upload the files under ``local_dir`` to ``uri`` (``s3://bucket/prefix/`` or ``file://``)
    whose content differs from what is there; nothing is deleted remotely. ``home`` (the smtrain
    home) is never sent; what is left out is in the report's ``warnings``."""
    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise UsageError(f"{str(local_dir)!r} is not a directory", where="sync", hint="give an existing folder")
    files, warnings = list_files(local_dir, home=home)
    target = make_target(uri, s3=s3, transfer_config=transfer_config, kms_key=kms_key)
    with DigestCache() as cache:
        cache.recall([file.known for file in files])
        try:
            changed = send_changed(files, target, progress=progress)
        finally:
            cache.remember([file.known for file in files])
    return SyncReport(
        uploaded_files=len(changed),
        uploaded_bytes=sum(file.size for file in changed),
        unchanged_files=len(files) - len(changed),
        uri=uri,
        warnings=warnings,
    )


def send_changed(files: list[LocalFile], target: Target, *, progress: bool) -> list[LocalFile]:
    """Upload the files whose content differs from the target's; returns them."""
    # Checks and uploads are round trips: run several at once, as `aws s3 sync` does.
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        current = list(pool.map(target.is_current, files))
    changed = [file for file, up_to_date in zip(files, current, strict=True) if not up_to_date]
    total = sum(file.size for file in changed)
    with progress_bar(total, enabled=progress, label=target.uri) as advance, ThreadPoolExecutor(PARALLEL) as pool:
        for upload in [pool.submit(target.put, file, advance) for file in changed]:
            upload.result()
    return changed


def upload_file(path: Path, uri: str, s3: Any = None, *, progress: bool = False, transfer_config: Any = None,
                kms_key: str = "") -> int:
    """Put one file at exactly ``uri`` (an object key or a file path); returns its size.

    ``kms_key`` encrypts S3 objects with SSE-KMS, as the SDK's uploads with a ``kms_key`` do.
    """
    path = Path(path)
    parent, _, name = uri.rstrip("/").rpartition("/")
    file = LocalFile.at(path, name)
    target = make_target(parent + "/", s3=s3, transfer_config=transfer_config, kms_key=kms_key)
    with progress_bar(file.size, enabled=progress, label=uri) as advance:
        target.put(file, advance)
    return file.size


def list_files(local_dir: Path, *, home: Path | None = None) -> tuple[list[LocalFile], list[str]]:
    """The files to sync (a link inside the folder stands for its target), and warnings for what is left out."""
    result = scan_data(local_dir, home=home)
    files = [LocalFile.at(result.files[name], name) for name in result.names]
    return files, result.warnings()


def file_digest(path: Path) -> str:
    with open_regular(path.name, path) as handle:
        return file_sha256(handle).hexdigest()


def make_target(uri: str, *, s3: Any = None, transfer_config: Any = None, kms_key: str = "") -> Target:
    if is_file_uri(uri):
        return FileTarget(uri)
    if uri.startswith("s3://"):
        return S3Target(uri, resolve_client(s3), transfer_config=transfer_config, kms_key=kms_key)
    raise UsageError(f"cannot upload to {uri!r}", where="sync", hint="use an s3:// or file:// URI")


def resolve_client(s3: Any) -> Any:
    """``s3`` may be a client, a function returning one, or None (the default credentials chain)."""
    if s3 is None:
        from smtrain.aws.session import AwsSession

        return AwsSession().client("s3")
    return s3() if callable(s3) else s3


# -- targets ---------------------------------------------------------------------


class S3Target:
    def __init__(self, uri: str, client: Any, *, transfer_config: Any = None, kms_key: str = "") -> None:
        self.uri = uri
        self.client = client
        self.encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
        self.bucket, prefix = split_s3(uri)
        self.prefix = f"{prefix.rstrip('/')}/" if prefix.strip("/") else ""
        self.config = transfer_config or default_transfer_config()
        self._listing: dict[str, tuple[int, str]] | None = None
        self._listing_lock = threading.Lock()

    def key(self, file: LocalFile) -> str:
        return self.prefix + file.relative

    def is_current(self, file: LocalFile) -> bool:
        key = self.key(file)
        listed = self.remote_listing().get(key)
        if listed is None or listed[0] != file.size:
            return False
        if PLAIN_ETAG.match(listed[1]) and listed[1] == file.md5:  # a multipart ETag is no MD5: skip reading
            return True
        with translating(where=f"s3://{self.bucket}/{key}"):
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        return bool(head.get("Metadata", {}).get(HASH_KEY) == file.digest)

    def remote_listing(self) -> dict[str, tuple[int, str]]:
        """Size and ETag (unquoted) of every object under the prefix, listed once."""
        with self._listing_lock:
            if self._listing is None:
                listing: dict[str, tuple[int, str]] = {}
                with translating(where=self.uri):
                    paginator = self.client.get_paginator("list_objects_v2")
                    for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                        for item in page.get("Contents", []):
                            listing[item["Key"]] = (item["Size"], str(item.get("ETag", "")).strip('"'))
                self._listing = listing
        return self._listing

    def put(self, file: LocalFile, advance: Progress) -> None:
        if file.size < self.config.multipart_threshold:
            self.put_object(file)
            advance(file.size)
            return
        key = self.key(file)
        # The digest is read without following a link, so a file swapped for one after the scan is refused.
        # upload_file, not upload_fileobj on that handle: s3transfer would buffer every part in memory.
        with translating(where=f"s3://{self.bucket}/{key}"):
            self.client.upload_file(
                str(file.path), self.bucket, key,
                ExtraArgs={"Metadata": {HASH_KEY: file.digest}, **self.encryption}, Callback=advance,
                Config=self.config,
            )


    def put_object(self, file: LocalFile) -> None:
        """One PutObject: S3 checks the body against the SHA-256 sent; a plain ETag back is its MD5."""
        key = self.key(file)
        checksum = base64.b64encode(bytes.fromhex(file.digest)).decode()
        started = time.time_ns()
        with translating(where=f"s3://{self.bucket}/{key}"), open_regular(file.relative, file.path) as body:
            answer = self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ChecksumSHA256=checksum,
                                            Metadata={HASH_KEY: file.digest}, **self.encryption)
        etag = str(answer.get("ETag", "")).strip('"')
        if PLAIN_ETAG.match(etag) and answer.get("ServerSideEncryption", "AES256") == "AES256" \
                and not answer.get("SSECustomerAlgorithm"):
            file.known.learn(started, md5=etag)


def default_transfer_config(
    threshold: int = MULTIPART_THRESHOLD, chunksize: int = MULTIPART_CHUNKSIZE
) -> Any:
    from boto3.s3.transfer import TransferConfig

    # "classic" pins s3transfer's manager, whose failure cleanup aborts the multipart upload.
    return TransferConfig(
        multipart_threshold=threshold, multipart_chunksize=chunksize, preferred_transfer_client="classic"
    )


class FileTarget:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.root = to_path(uri)

    def is_current(self, file: LocalFile) -> bool:
        destination = self.root / file.relative
        try:
            if destination.stat().st_size != file.size:
                return False
        except FileNotFoundError:
            return False
        return file_digest(destination) == file.digest

    def put(self, file: LocalFile, advance: Progress) -> None:
        destination = self.root / file.relative
        make_private_dirs(destination.parent)  # the local store: owner-only, like everything under the home
        atomic_copy(file.path, destination, advance)


def atomic_copy(source: Path, destination: Path, advance: Progress) -> None:
    """Copy to a temporary file beside ``destination``, then rename it over: never a partial file."""
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    try:
        with open_regular(source.name, source) as reader, os.fdopen(handle, "wb") as writer:
            for chunk in iter(lambda: reader.read(CHUNK), b""):
                writer.write(chunk)
                advance(len(chunk))
        os.chmod(temporary, private_mode(os.stat(source).st_mode))
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- progress ------------------------------------------------------------------------


@contextmanager
def progress_bar(total: int, *, enabled: bool, label: str, verb: str = "upload") -> Iterator[Progress]:
    """A rich bar of bytes on stderr; a no-op unless enabled and stderr is a terminal (nor NO_COLOR, nor --quiet)."""
    from smtrain.core.progress import spinner_wanted

    if not enabled or total == 0 or not spinner_wanted(sys.stderr):
        yield _ignore  # and rich is not even imported
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield _ignore
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"{verb} {label}", total=total)
        yield lambda sent: bar.advance(task, sent)


def _ignore(_: int) -> None:
    pass

"""``s3://`` data for the local backend: downloaded once into a content-addressed cache, as SageMaker
would download it into the job's container.

:func:`fetch_s3` is the one entry point (training channels, model data, and the processing and
transform inputs): it lists the URI's objects (botocore's ``list_objects_v2`` paginator; a URI
naming one object is that object, as in the SDK's local mode ``download_folder``), downloads
each object it has not seen with that ETag, and returns a folder (or, for one object, a file) in
a view of the cache. An object is stored once per (bucket, key, ETag) under ``blobs/``; while its
ETag is unchanged it is never downloaded again. Nothing is half-written: every file is written
beside its final name and renamed. The cache (``<user cache dir>/smtrain/s3``, 0700) is the
user's own: a key whose path would leave it (``..``, an absolute path) is refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from smtrain.core.errors import UsageError

CACHE_MODE = 0o700


@dataclass(frozen=True)
class S3Object:
    key: str
    etag: str
    size: int
    relative: str  # where it lands under the returned folder


def cache_root() -> Path:
    """``<user cache dir>/smtrain/s3`` (``$XDG_CACHE_HOME/smtrain/s3`` on Linux)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("smtrain")) / "s3"


def fetch_s3(uri: str, *, s3: Any = None, cache_dir: Path | None = None, progress: bool = True) -> Path:
    """The local copy of ``uri`` (an object or a prefix), downloaded with the user's AWS credentials if needed.

    Returns a file for a URI naming one object, else a folder holding every object under the prefix.
    """
    from smtrain.core.uris import split_s3

    bucket, key = split_s3(uri)
    root = _private_dir(cache_dir or cache_root())
    client = s3 if s3 is not None else default_client()
    objects, single = _listing(client, uri, bucket, key)
    if not objects:
        raise UsageError(f"no objects at {uri}", where=uri, hint="check the bucket and key (`aws s3 ls` lists them)")
    _download_missing(client, uri, bucket, objects, root / "blobs", progress=progress)
    view = _view(root, bucket, objects)
    return view / objects[0].relative if single else view


def default_client() -> Any:
    """An S3 client from the default credential chain (AWS_PROFILE, the environment, ~/.aws, an instance role)."""
    from smtrain.aws.session import AwsSession

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return AwsSession(region=region, profile=os.environ.get("AWS_PROFILE", "")).client("s3")


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=CACHE_MODE)
    os.chmod(path, CACHE_MODE)
    return path


def _listing(client: Any, uri: str, bucket: str, key: str) -> tuple[list[S3Object], bool]:
    """The objects under ``key``; a key naming an object is that object alone (the SDK's local mode)."""
    with _reading(uri):
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
        found = [item for page in pages for item in page.get("Contents", [])]
    exact = [item for item in found if item["Key"] == key and not key.endswith("/")]
    if exact:
        item = exact[0]
        return [S3Object(key, item["ETag"], int(item["Size"]), _relative(uri, PurePosixPath(key).name, key))], True
    base = key if key.endswith("/") or not key else key + "/"
    # The folder's objects, at their paths below it (the SDK's local mode: os.path.relpath(key, prefix)).
    # A sibling such as train-x.csv of the prefix "train" has no place in the folder and is left out.
    objects = [S3Object(item["Key"], item["ETag"], int(item["Size"]), _relative(uri, item["Key"][len(base):],
                                                                                 item["Key"]))
               for item in found if item["Key"].startswith(base) and not item["Key"].endswith("/")]
    return objects, False


def _relative(uri: str, relative: str, key: str) -> str:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in relative:
        raise UsageError(f"object key {key!r} would be written outside the download folder", where=uri,
                         hint="give a prefix that ends with '/' (s3://bucket/folder/), or rename the object")
    return str(path)


def _blob_name(bucket: str, item: S3Object) -> str:
    return hashlib.sha256(f"{bucket}\0{item.key}\0{item.etag}".encode()).hexdigest()


def _download_missing(client: Any, uri: str, bucket: str, objects: list[S3Object], blobs: Path, *,
                      progress: bool) -> None:
    from smtrain.files.sync import progress_bar

    _private_dir(blobs)
    missing = [item for item in objects if not (blobs / _blob_name(bucket, item)).is_file()]
    with progress_bar(sum(i.size for i in missing), enabled=progress, label=uri, verb="download") as advance:
        for item in missing:
            target = blobs / _blob_name(bucket, item)
            fd, scratch = tempfile.mkstemp(dir=blobs, prefix=".part-")
            os.close(fd)
            try:
                with _reading(f"s3://{bucket}/{item.key}"):
                    client.download_file(bucket, item.key, scratch, Callback=advance)
                os.replace(scratch, target)
            finally:
                Path(scratch).unlink(missing_ok=True)


def _view(root: Path, bucket: str, objects: list[S3Object]) -> Path:
    """A folder laying the objects out under their relative paths (hard links to the blobs), one per listing."""
    listing = "\n".join(f"{o.relative}\0{_blob_name(bucket, o)}" for o in sorted(objects, key=lambda o: o.relative))
    views = _private_dir(root / "views")
    view = views / hashlib.sha256(listing.encode()).hexdigest()
    if view.is_dir():
        return view
    scratch = Path(tempfile.mkdtemp(dir=views, prefix=".part-"))
    try:
        for item in objects:
            target = scratch / item.relative
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(root / "blobs" / _blob_name(bucket, item), target)
        try:
            scratch.rename(view)
        except OSError:  # another process made the same view first: use it
            if not view.is_dir():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch)
    return view


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@contextmanager
def _reading(uri: str) -> Iterator[None]:
    """S3 errors and missing credentials as smtrain errors naming the URI."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except NoCredentialsError:
        raise UsageError(f"no AWS credentials to download {uri}", where=uri,
                         hint="set AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), run `aws configure`, "
                              "or give a local path instead") from None
    except (ClientError, BotoCoreError) as exc:
        from smtrain.aws.translation import translate

        raise translate(exc, where=uri) from exc


def iter_cached(root: Path | None = None) -> Iterator[Path]:
    """Every blob in the cache (for `doctor` and tests)."""
    blobs = (root or cache_root()) / "blobs"
    yield from (p for p in blobs.glob("*") if p.is_file() and not p.name.startswith(".part-"))

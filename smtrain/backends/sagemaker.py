"""The sagemaker backend: the real service, through boto3 (via :mod:`smtrain.aws.session`).

Construction does no network I/O. The first call that needs AWS builds the
session; the default bucket is looked up (STS) when the artifact root is
first asked for, and created only before the first upload into it, so
``smtrain plan`` never creates anything.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from smtrain.aws.roles import Found
from smtrain.aws.session import AwsSession, default_bucket_name, ensure_bucket, expand_role, iter_job_log
from smtrain.aws.translation import translating
from smtrain.backends.base import SyncReport
from smtrain.core.config import Config, setting_source
from smtrain.core.errors import AwsError, UsageError
from smtrain.core.sdk_config import SESSION, SdkDefaults
from smtrain.core.uris import split_s3
from smtrain.planning.kinds import JobKind

NOT_FOUND = ("not found", "could not find")
LOG_POLL_SECONDS = 5.0  # status polls follow Config.poll_seconds (SMTRAIN_POLL_SECONDS, default 10)


class SageMakerBackend:
    name = "sagemaker"
    runs_here = False

    def __init__(
        self,
        config: Config,
        *,
        session: AwsSession | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.poll_seconds = config.poll_seconds  # status polls; log polls at least every LOG_POLL_SECONDS
        self.aws = session or AwsSession.from_config(config)
        self._sleep = sleep
        self._bucket = config.bucket
        self._bucket_ready = bool(config.bucket)  # a configured bucket is the user's to create
        self._role: Found | None = None
        self._sdk_defaults: SdkDefaults | None = None

    def sdk_defaults(self) -> SdkDefaults:
        """The SageMaker SDK's config.yaml defaults (admin and user files), read once."""
        if self._sdk_defaults is None:
            from smtrain.core.sdk_config import load_sdk_defaults

            self._sdk_defaults = load_sdk_defaults()
        return self._sdk_defaults

    # -- clients -------------------------------------------------------------------
    def sagemaker(self) -> Any:
        return self.aws.client("sagemaker")

    def runtime(self) -> Any:
        return self.aws.client("sagemaker-runtime")

    def logs(self) -> Any:
        return self.aws.client("logs")

    def s3(self) -> Any:
        return self.aws.client("s3")

    @property
    def region(self) -> str:
        """The region calls go to: the configured one, else the AWS profile's."""
        return self.aws.region

    def resolved_config(self) -> Config:
        """``config`` with the region filled in from the AWS profile, for planning."""
        return self.config if self.config.region else replace(self.config, region=self.region)

    # -- where things go -------------------------------------------------------------
    def bucket(self) -> str:
        return self.bucket_found().value

    def bucket_found(self) -> Found:
        """SMTRAIN_BUCKET (or --bucket, or smtrain.toml), else config.yaml's DefaultS3Bucket, else the SDK's
        ``sagemaker-{region}-{account}`` (``Session.default_bucket``)."""
        if self.config.bucket:
            return Found(self.config.bucket, setting_source(self.config, "bucket"))
        path = f"{SESSION}.DefaultS3Bucket"
        from_file = self.sdk_defaults().get(path)
        if from_file:
            self._bucket = str(from_file)
            self._bucket_ready = True  # the organisation's bucket: used as given, like SMTRAIN_BUCKET
            return Found(self._bucket, f"{path} ({self.sdk_defaults().origin(path)})")
        if not self._bucket:
            self._bucket = default_bucket_name(self.region, self.aws.account_id())
        return Found(self._bucket, "the SDK's default bucket sagemaker-{region}-{account} (STS GetCallerIdentity)")

    def prefix(self) -> str:
        """SMTRAIN_PREFIX when set, else config.yaml's DefaultS3ObjectKeyPrefix, else smtrain's default."""
        from_file = self.sdk_defaults().get(f"{SESSION}.DefaultS3ObjectKeyPrefix")
        if "prefix" in self.config.sources or not from_file:
            return self.config.prefix
        return str(from_file)

    def artifact_root(self) -> str:
        prefix = self.prefix().strip("/")
        return f"s3://{self.bucket()}/{prefix}" if prefix else f"s3://{self.bucket()}"

    def ensure_bucket(self) -> None:
        """Create the SDK-style default bucket if it does not exist yet (once per backend)."""
        if self._bucket_ready:
            return
        ensure_bucket(self.s3(), self.bucket(), region=self.region, owner=self.aws.account_id())
        self._bucket_ready = True

    def role(self) -> str:
        return self.role_found().value

    def role_found(self) -> Found:
        """SMTRAIN_ROLE (or --role, or smtrain.toml), else config.yaml's SageMaker.TrainingJob.RoleArn,
        else found as the SDK's ``get_execution_role()`` finds it (:mod:`smtrain.aws.roles`)."""
        if self._role is None:
            self._role = self._find_role()
        return self._role

    def _find_role(self) -> Found:
        if self.config.role:
            return Found(expand_role(self.aws, self.config.role), setting_source(self.config, "role"))
        path = "SageMaker.TrainingJob.RoleArn"
        from_file = self.sdk_defaults().get(path)
        if from_file:
            return Found(str(from_file), f"{path} ({self.sdk_defaults().origin(path)})")
        from smtrain.aws.roles import discover_role

        return discover_role(self.aws, self.config.resource_metadata)

    def image_uri(self, framework_version: str) -> str:
        from smtrain.aws.images import sklearn_image_uri

        return sklearn_image_uri(self.region, framework_version or self.config.framework_version)

    @contextmanager
    def reserve(self, kind: JobKind, name: str) -> Iterator[None]:
        """SageMaker has no reservation: ask whether the job exists before uploading anything for it.
        (Two racing submissions both pass; each uploads under its own key and one Create call wins.)"""
        if self._job_exists(kind, name):
            raise AwsError(f"a {kind.noun} named {name!r} already exists", code="ResourceInUse",
                           where=f"{kind.noun} {name}",
                           hint=f"{kind.noun} names are unique per account and region; choose another --job-name")
        yield

    def _job_exists(self, kind: JobKind, name: str) -> bool:
        from botocore.exceptions import ClientError

        from smtrain.planning.steps import method_name

        with translating(where=f"{kind.noun} {name}"):
            try:
                getattr(self.sagemaker(), method_name(kind.describe))(**{kind.name_key: name})
            except ClientError as exc:
                error = exc.response.get("Error", {})
                message = str(error.get("Message", "")).lower()
                if error.get("Code") == "ValidationException" and any(m in message for m in NOT_FOUND):
                    return False
                if error.get("Code") == "ResourceNotFound":  # DescribeHyperParameterTuningJob's error (API reference)
                    return False
                raise
        return True

    # -- uploads -----------------------------------------------------------------------
    def upload_source(self, source_dir: Path, entry_point: str, uri: str) -> None:
        from smtrain.files.sync import upload_file
        from smtrain.files.tarballs import pack_source

        self._prepare_upload(uri)
        with tempfile.TemporaryDirectory(prefix="smtrain-source-") as scratch:
            archive = Path(scratch) / "sourcedir.tar.gz"
            for warning in pack_source(Path(source_dir), entry_point, archive, home=self.config.home).warnings():
                print(warning, file=sys.stderr, flush=True)
            upload_file(archive, uri, self.s3(), kms_key=self.config.kms_key)

    def sync(self, local_dir: Path, uri: str, *, progress: bool = True) -> SyncReport:
        from smtrain.files.sync import sync_directory

        self._prepare_upload(uri)
        report = sync_directory(Path(local_dir), uri, s3=self.s3, progress=progress, kms_key=self.config.kms_key,
                                home=self.config.home)
        for warning in report.warnings:
            print(warning, file=sys.stderr, flush=True)
        return report

    def read_object(self, uri: str, *, max_bytes: int) -> bytes | None:
        from smtrain.aws.translation import AwsNotFoundError

        bucket, key = split_s3(uri)
        try:
            with translating(where=uri):
                head = self.s3().head_object(Bucket=bucket, Key=key)
                if head.get("ContentLength", 0) > max_bytes:
                    raise UsageError(f"{uri} is over {max_bytes} bytes", where=uri, hint="write a smaller report")
                return bytes(self.s3().get_object(Bucket=bucket, Key=key)["Body"].read())
        except AwsNotFoundError:
            return None

    def _prepare_upload(self, uri: str) -> None:
        if uri.startswith("s3://") and split_s3(uri)[0] == self.bucket():
            with translating(where=f"s3://{self.bucket()}"):
                self.ensure_bucket()

    # -- jobs ----------------------------------------------------------------------------
    def job_log(self, kind: JobKind, job_name: str, *, follow: bool, is_done: Callable[[], bool]) -> Iterator[str]:
        return iter_job_log(
            self.logs(), kind.log_group, kind.log_stream_prefix(job_name), follow=follow, is_done=is_done,
            sleep=self.sleep, poll_seconds=min(LOG_POLL_SECONDS, self.poll_seconds),
        )

    def job_code_dir(self, kind: JobKind, job_name: str) -> Path | None:
        return None  # the code is in the job's container, at /opt/ml/code

    def status_detail(self, resource: str, status: str) -> str:
        return ""

    def runtime_url(self) -> str:
        return ""

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

"""AWS errors as smtrain errors: where, what went wrong and what to do, at one boundary.

:func:`translating` wraps a block of boto3 calls; :func:`translate` maps one
botocore or boto3 exception (throttling, bad credentials, access denied, not
found, validation) to a :class:`~smtrain.core.errors.SmtrainError` with a hint.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from smtrain.core.errors import AwsError, BackendError, EndpointError, NotFoundError, SmtrainError, UsageError

ROLE_HINT = (
    "set SMTRAIN_ROLE to the ARN of an IAM role that trusts sagemaker.amazonaws.com "
    "and can read/write your bucket"
)
CREDENTIALS_HINT = "configure credentials (`aws configure`, `aws sso login`) or set AWS_PROFILE"
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
)
BAD_CREDENTIALS_CODES = frozenset(
    {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidAccessKeyId",
     "ExpiredToken", "ExpiredTokenException", "AuthFailure"}
)
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "403", "Forbidden"})
NOT_FOUND_MARKERS = ("not found", "could not find", "does not exist")
NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException", "NoSuchKey", "404", "NotFound"})


class AwsNotFoundError(AwsError, NotFoundError):
    """AWS says the resource does not exist: catchable as either parent."""


class AwsConfigError(AwsError, UsageError):
    """Credentials, region or profile are missing or wrong: the user's setup, exit code 2."""


def is_aws_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from botocore or boto3 (what :func:`translate` is for)."""
    return _is_aws_error(exc)


@contextmanager
def translating(*, where: str) -> Iterator[None]:
    """Re-raise any botocore/boto3 error inside the block as a :class:`SmtrainError`."""
    try:
        yield
    except SmtrainError:
        raise
    except Exception as exc:
        if not _is_aws_error(exc):
            raise
        raise translate(exc, where=where) from exc


def _is_aws_error(exc: BaseException) -> bool:
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, ClientError | BotoCoreError | Boto3Error)


def translate(exc: BaseException, *, where: str = "", backend: str = "sagemaker", listing: str = "") -> SmtrainError:
    """The :class:`SmtrainError` that says what went wrong with an AWS call and what to do.

    ``backend`` names who refused a request in the message ("the local backend rejected ...");
    ``listing``, the command that lists what exists, becomes the hint of a not-found error.
    """
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError

    if isinstance(exc, SmtrainError):
        return exc
    if isinstance(exc, ClientError):
        if listing and _says_not_found(exc):
            error = exc.response.get("Error", {})
            return AwsNotFoundError(str(error.get("Message", "")), code=str(error.get("Code", "")), where=where,
                                    hint=f"`{listing}` lists what exists")
        return _translate_client_error(exc, where, backend)
    # boto3's S3 transfer wraps the ClientError of a failed part in S3UploadFailedError.
    if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, ClientError):
        return _translate_client_error(exc.__context__, where, backend)
    return _translate_botocore_error(exc, where)


def _says_not_found(exc: Any) -> bool:
    """SageMaker answers a missing resource with a ValidationException whose message says so (not a role's)."""
    message = str(exc.response.get("Error", {}).get("Message", "")).lower()
    return any(marker in message for marker in NOT_FOUND_MARKERS) and "role" not in message


def _translate_botocore_error(exc: BaseException, where: str) -> SmtrainError:
    from botocore import exceptions as bce

    where = where or "AWS"
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError | bce.CredentialRetrievalError):
        return AwsConfigError(f"no usable AWS credentials: {exc}", code="NoCredentials", where=where,
                              hint=CREDENTIALS_HINT)
    if isinstance(exc, bce.ProfileNotFound):
        return AwsConfigError(str(exc), code="ProfileNotFound", where=where,
                              hint="check SMTRAIN_PROFILE / AWS_PROFILE against `aws configure list-profiles`")
    if isinstance(exc, bce.TokenRetrievalError | bce.SSOError):
        return AwsConfigError(str(exc), code="SSOTokenExpired", where=where,
                              hint="run `aws sso login` for your profile")
    if isinstance(exc, bce.NoRegionError):
        return AwsConfigError("no AWS region configured", code="NoRegion", where=where,
                              hint="set SMTRAIN_REGION or AWS_REGION, or a region in your AWS profile")
    if isinstance(exc, bce.EndpointConnectionError | bce.ConnectTimeoutError):
        return AwsError(f"could not reach AWS: {exc}", code="EndpointConnectionError", where=where,
                        hint="check the network and the region name; if AWS_ENDPOINT_URL is set, is that server up?")
    if isinstance(exc, bce.ParamValidationError):
        return BackendError(f"invalid request: {exc}", where=where,
                            hint="this is a bug in smtrain if it came from a plan; please report it")
    return AwsError(str(exc), code=type(exc).__name__, where=where)


def _translate_client_error(exc: Any, where: str, backend: str = "sagemaker") -> SmtrainError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "")) or str(exc)
    where = where or exc.operation_name
    operation = exc.operation_name
    if code == "NoSuchBucket":
        bucket = error.get("BucketName", "")
        what = f"bucket {bucket} does not exist" if bucket else f"the bucket does not exist: {message}"
        return AwsNotFoundError(what, code=code, where=where,
                                hint="create it (`aws s3 mb s3://NAME`) or set SMTRAIN_BUCKET to a bucket you own")
    if code in THROTTLING_CODES:
        return AwsError(f"AWS throttled {operation} even after retries: {message}", code=code, where=where,
                        hint="wait a minute and retry; run fewer smtrain commands at once")
    if code in BAD_CREDENTIALS_CODES:
        return AwsConfigError(f"AWS rejected the credentials ({code}): {message}", code=code, where=where,
                              hint="check the region (SMTRAIN_REGION / AWS_REGION) and that the credentials "
                                   "are current; " + CREDENTIALS_HINT)
    if code in ACCESS_DENIED_CODES:
        return AwsError(f"access denied for {operation}: {message}", code=code, where=where,
                        hint=_access_denied_hint(message))
    if code == "ResourceLimitExceeded":
        return AwsError(f"an account quota is exhausted: {message}", code=code, where=where,
                        hint="stop or delete what you no longer use, pick another instance type, or request "
                             "an increase in the Service Quotas console (service: SageMaker)")
    if code in NOT_FOUND_CODES:
        return AwsNotFoundError(message if message not in ("Not Found", "") else f"{where} does not exist",
                                code=code, where=where, hint="check the name and the region")
    if code in ("ValidationException", "ValidationError"):
        return _translate_validation(message, code, where, backend)
    if code in ("ResourceInUse", "ConflictException", "BucketAlreadyExists"):
        return AwsError(message, code=code, where=where,
                        hint="the name is taken: choose another, or remove the existing resource first")
    return AwsError(f"{code}: {message}", code=code, where=where)


def _access_denied_hint(message: str) -> str:
    if "iam:PassRole" in message:
        return "your identity needs iam:PassRole on the execution role (SMTRAIN_ROLE)"
    return "your AWS identity lacks this permission: ask for it in IAM, or use another profile (AWS_PROFILE)"


def _translate_validation(message: str, code: str, where: str, backend: str = "sagemaker") -> SmtrainError:
    lowered = message.lower()
    if "assume role" in lowered or "assume the role" in lowered or ("role" in lowered and "not exist" in lowered):
        return AwsError(f"SageMaker cannot use the execution role: {message}", code=code, where=where,
                        hint=ROLE_HINT)
    if any(marker in lowered for marker in NOT_FOUND_MARKERS):
        return AwsNotFoundError(message, code=code, where=where, hint="check the name and the region")
    refused_by = "SageMaker" if backend == "sagemaker" else f"the {backend} backend"
    return AwsError(f"{refused_by} rejected the request: {message}", code=code, where=where)


def translate_invoke(exc: Exception, endpoint_name: str, *, listing: str = "smtrain ls") -> Exception | None:
    """A SageMaker Runtime error as smtrain's: the model's own answer, or an endpoint that does not exist."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return None
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", "")
    where = f"endpoint {endpoint_name}"
    if code == "ModelError":
        status = exc.response.get("OriginalStatusCode", "")
        original = exc.response.get("OriginalMessage", message)
        return EndpointError(f"the model answered {status}: {original}", where=where,
                             hint="check --content-type/--accept and the payload")
    if code == "ValidationError" and "not found" in message.lower():
        return NotFoundError(message, where=where, hint=f"`{listing}` lists endpoints")
    return None

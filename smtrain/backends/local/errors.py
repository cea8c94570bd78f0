"""The local backend fails the way SageMaker does: botocore ``ClientError``s
with the service's error codes, so callers handle one kind of error for both
backends."""

from __future__ import annotations

from botocore.exceptions import ClientError


def client_error(operation: str, code: str, message: str, status: int = 400) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


def not_found(operation: str, message: str = "Requested resource not found.") -> ClientError:
    return client_error(operation, "ValidationException", message)


def in_use(operation: str, message: str) -> ClientError:
    return client_error(operation, "ResourceInUse", message)

"""A light SageMaker Runtime client for the local gateway.

``LocalRuntime(url).invoke_endpoint(...)`` takes and returns what
``boto3.client("sagemaker-runtime").invoke_endpoint(...)`` does, and raises
botocore's ``ClientError`` with the codes and fields botocore would parse from
the gateway's answer (``ModelError`` with ``OriginalStatusCode``, ...), without
loading boto3.
"""

from __future__ import annotations

import http.client
import io
import json
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.exceptions import ClientError

OPERATION = "InvokeEndpoint"
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
VARIANT_HEADER = "x-Amzn-Invoked-Production-Variant"
MODELED_FIELDS = ("OriginalStatusCode", "OriginalMessage", "LogStreamArn")
# InvokeEndpoint's modeled errors: botocore copies their body fields (Message, ...) to the top of the response
MODELED_ERRORS = ("InternalFailure", "ServiceUnavailable", "ValidationError", "ModelError",
                  "InternalDependencyException", "ModelNotReadyException")
TIMEOUT = 70.0  # SageMaker gives a model 60 s; its docs suggest a 70 s client timeout


class ResponseBody(io.BytesIO):
    """The response body: ``.read()`` like botocore's ``StreamingBody``."""

    def iter_lines(self) -> Any:
        yield from (line.rstrip(b"\r\n") for line in self)


class LocalRuntime:
    def __init__(self, url: str, *, timeout: float = TIMEOUT) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout

    def invoke_endpoint(
        self, *, EndpointName: str, Body: bytes | str | Any, ContentType: str | None = None,
        Accept: str | None = None, CustomAttributes: str | None = None, **_ignored: Any,
    ) -> dict[str, Any]:
        payload = _payload(Body)
        headers = {"Content-Length": str(len(payload))}
        for name, value in (("Content-Type", ContentType), ("Accept", Accept), (CUSTOM_ATTRIBUTES, CustomAttributes)):
            if value:
                headers[name] = value
        status, response_headers, answer = self._post(f"/endpoints/{quote(EndpointName, safe='')}/invocations",
                                                      payload, headers)
        if status >= 300:
            raise _client_error(status, response_headers, answer)
        return _response(status, response_headers, answer)

    def _post(self, path: str, payload: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        # A connection reset while the request is still being sent never reached the application (a server
        # being replaced dropped it from its listening queue): sent again once, as botocore retries it.
        for attempt in range(2):
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                try:
                    connection.request("POST", path, body=payload, headers=headers)
                except (BrokenPipeError, ConnectionResetError):
                    if attempt:
                        raise
                    continue
                response = connection.getresponse()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            finally:
                connection.close()
        raise AssertionError("unreachable")


def _payload(body: Any) -> bytes:
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "read"):
        data = body.read()
        return data.encode() if isinstance(data, str) else bytes(data)
    raise TypeError(f"Body must be bytes, str or a file-like object, not {type(body).__name__}")


def _metadata(status: int, headers: dict[str, str]) -> dict[str, Any]:
    return {"RequestId": headers.get("x-amzn-requestid", ""), "HTTPStatusCode": status,
            "HTTPHeaders": headers, "RetryAttempts": 0}


def _response(status: int, headers: dict[str, str], answer: bytes) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ResponseMetadata": _metadata(status, headers),
        "ContentType": headers.get("content-type", ""),
        "InvokedProductionVariant": headers.get(VARIANT_HEADER.lower(), ""),
        "Body": ResponseBody(answer),
    }
    if CUSTOM_ATTRIBUTES.lower() in headers:
        result["CustomAttributes"] = headers[CUSTOM_ATTRIBUTES.lower()]
    return result


def _client_error(status: int, headers: dict[str, str], answer: bytes) -> ClientError:
    """The error botocore's rest-json parser would build from the same answer."""
    try:
        body = json.loads(answer or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = headers.get("x-amzn-errortype", "").split(":", 1)[0] or str(body.get("__type", "")) or str(status)
    message = body.get("message", body.get("Message", answer.decode("utf-8", errors="replace")))
    response: dict[str, Any] = {"Error": {"Code": code, "Message": message},
                                "ResponseMetadata": _metadata(status, headers)}
    if code in MODELED_ERRORS:
        response.update({key: body[key] for key in ("Message", *MODELED_FIELDS) if key in body})
    return ClientError(response, OPERATION)

"""The runtime gateway: one SageMaker Runtime for every local endpoint of a home.

    python -m smtrain.backends.local.serving.runtime --home DIR --fd N

``POST /endpoints/{EndpointName}/invocations`` goes to that endpoint's model
container (its port is in the state DB, which the gateway only reads) and the
answer comes back as SageMaker Runtime gives it, so that
``boto3.client("sagemaker-runtime", endpoint_url=URL).invoke_endpoint(...)``
works unchanged (botocore's sagemaker-runtime 2017-05-13 service model):

- success: 200, ``Content-Type`` from the model, ``x-Amzn-Invoked-Production-Variant``,
  and ``X-Amzn-SageMaker-Custom-Attributes`` when the model sets it;
- unknown endpoint: 400 ``ValidationError`` "Endpoint NAME of account ACCOUNT not found.";
- the model answered 4xx/5xx: 424 ``ModelError`` with ``OriginalStatusCode``,
  ``OriginalMessage`` and ``LogStreamArn``; a container that answers nothing
  (crashed worker, timeout) is ``OriginalStatusCode`` 0, as SageMaker reports it;
- the container is not listening (yet): 429 ``ModelNotReadyException``, which
  botocore retries;
- a body over 6 MB: 413 with no error type, as the real service answers;
- an endpoint name outside ``EndpointName``'s pattern (botocore's model:
  ``^[a-zA-Z0-9](-*[a-zA-Z0-9])*``, at most 63): 400 ``ValidationError`` in the
  words AWS validation uses; the name is read as UTF-8 (WSGI hands the path
  over as latin-1 bytes), so a non-ASCII name is shown as it was sent;
- a model answer over 6 MB (6,291,456 bytes: the ``Body`` of
  ``InvokeEndpointOutput`` in botocore's model has the request's maximum):
  424 ``ModelError`` saying the response body could not be loaded, as
  SageMaker reports a container answer it cannot take whole; the gateway
  reads no more of it than the limit.

Errors carry the ``x-amzn-ErrorType`` header and a JSON body, which is how
botocore's rest-json parser finds the code and the modeled fields.

The gateway's life (:func:`ensure_gateway`, :func:`stop_gateway_if_idle`) is
driven by the endpoints API: started with the first endpoint, stopped with the
last, on a port chosen once for the home and kept in the state DB (kind
"runtime"): it never moves. A keeper (:mod:`.keeper`) holds its socket and
restarts a gateway that dies, at once; each worker reads requests whole before
routing them (:mod:`.front`), so slow clients hold no thread.
"""

from __future__ import annotations

import argparse
import fcntl
import http.client
import json
import logging
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smtrain.backends.local.serving.container import (
    CUSTOM_ATTRIBUTES,
    CUSTOM_ATTRIBUTES_ENVIRON,
    StartResponse,
    child_environment,
    listening_socket,
    read_body,
    respond,
)
from smtrain.backends.local.serving.health import server_alive, stop_server
from smtrain.backends.local.serving.keeper import KEEPER_MODULE
from smtrain.backends.local.store.home import LocalHome
from smtrain.backends.local.store.state import StateDB

MAX_BODY = 6 * 1024 * 1024
MAX_RESPONSE = 6 * 1024 * 1024  # botocore sagemaker-runtime 2017-05-13: InvokeEndpointOutput.Body max 6291456
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")  # botocore's EndpointName pattern, max 63
ACCOUNT = "000000000000"
VARIANT_HEADER = "x-Amzn-Invoked-Production-Variant"
INVOCATIONS = re.compile(r"^/endpoints/(.+)/invocations$")  # WSGI unquotes the path: an encoded / is in a name
GATEWAY = ("runtime", "gateway")
GATEWAY_MODULE = "smtrain.backends.local.serving.runtime"
THREADS = 16  # per worker: requests waiting on a model; reading requests takes none (front.py)

logger = logging.getLogger("smtrain.runtime")

Answer = tuple[int, list[tuple[str, str]], bytes]


class Gateway:
    """The WSGI application: routes invocations by endpoint name.

    Each worker thread keeps its own read connection to the state DB and its own
    keep-alive connections to the containers: a request costs one ``PRAGMA data_version``
    (it changes when any other connection commits, so a re-deploy or a delete is seen at once)
    and no new upstream connection."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self.local = threading.local()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/ping":
            return respond(start_response, 200, b"")
        match = INVOCATIONS.match(path)
        if match is None or method != "POST":
            status, headers, body = error(404, "UnknownOperationException", f"{method} {path} is not an operation")
        else:
            status, headers, body = self.invoke(_wsgi_text(match.group(1)), environ)
        start_response(f"{status} {http.client.responses.get(status, 'Error')}", headers)
        return [body]

    def invoke(self, name: str, environ: dict[str, Any]) -> Answer:
        body = read_body(environ, limit=MAX_BODY)  # a declared length over it never gets here (front.py)
        if len(body) > MAX_BODY:
            return too_large()
        if len(name) > 63 or not ENDPOINT_NAME.match(name):
            return invalid_name(name)
        record, container = self.lookup(name)
        if record is None:
            return error(400, "ValidationError", f"Endpoint {name} of account {ACCOUNT} not found.")
        answer = forward(record, container, body, _request_headers(environ), self.upstream(container))
        if answer[0] == 429:
            # refused: a blue/green update may have just moved the endpoint to its new container
            record, moved = self.lookup(name)
            if record is not None and moved.get("port") != container.get("port"):
                answer = forward(record, moved, body, _request_headers(environ), self.upstream(moved))
        return answer

    def lookup(self, name: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The endpoint's record and the container that serves it; (None, {}) if none does."""
        cache: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = self.records()
        if name not in cache:
            record = self.db.get("endpoint", name)
            container = (record or {}).get("_local", {}).get("current") or {}
            cache[name] = (record, container) if record is not None and container.get("port") else (None, {})
        return cache[name]

    def records(self) -> dict[str, tuple[dict[str, Any] | None, dict[str, Any]]]:
        """This thread's cache of endpoint records, emptied whenever the state DB changed."""
        local = self.local
        try:
            inode = os.stat(self.db.path).st_ino
            if getattr(local, "inode", None) != inode:
                if getattr(local, "connection", None) is not None:
                    local.connection.close()
                local.connection, local.inode, local.version = sqlite3.connect(self.db.path), inode, None
            version = local.connection.execute("PRAGMA data_version").fetchone()[0]
        except (OSError, sqlite3.Error):
            local.inode, local.version, local.cache = None, None, {}
            return local.cache  # read through to the DB, which names the problem
        if version != local.version:
            local.version, local.cache = version, {}
        return local.cache

    def upstream(self, container: dict[str, Any]) -> http.client.HTTPConnection:
        """This thread's kept-alive connection to the container."""
        pool: dict[int, http.client.HTTPConnection] = self.local.__dict__.setdefault("upstream", {})
        port = int(container["port"])
        if port not in pool:
            pool[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=container.get("timeout", 60) + 5)
        return pool[port]


def too_large() -> Answer:
    return error(413, "", f"HTTP content length exceeded {MAX_BODY} bytes.")


def headers_too_large(what: str) -> Answer:
    return error(431, "", f"Request Header Fields Too Large: {what}.")


def invalid_name(name: str) -> Answer:
    constraint = ("Member must have length less than or equal to 63" if len(name) > 63 else
                  "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*")
    return error(400, "ValidationError", f"1 validation error detected: Value '{name}' at 'endpointName' failed "
                                         f"to satisfy constraint: {constraint}")


def _wsgi_text(path: str) -> str:
    """A WSGI path (bytes as latin-1, PEP 3333) as the UTF-8 text the client sent."""
    return path.encode("latin-1").decode("utf-8", errors="replace")


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {}
    for header, key in (("Content-Type", "CONTENT_TYPE"), ("Accept", "HTTP_ACCEPT"),
                        (CUSTOM_ATTRIBUTES, CUSTOM_ATTRIBUTES_ENVIRON)):
        if environ.get(key):
            headers[header] = environ[key]
    return headers


def forward(record: dict[str, Any], container: dict[str, Any], body: bytes, headers: dict[str, str],
            connection: http.client.HTTPConnection) -> Answer:
    """POST the body to the model container on ``connection`` (kept alive) and translate its answer."""
    name = record["EndpointName"]
    timeout = container.get("timeout", 60)
    started = time.monotonic()
    try:
        response, answer = _post(connection, body, headers)
    except ConnectionRefusedError:
        connection.close()
        return error(429, "ModelNotReadyException", f"Model for endpoint {name} is not ready; retry shortly.")
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        if isinstance(exc, TimeoutError) or time.monotonic() - started >= timeout:
            return model_error(record, container, 0, timed_out(timeout))
        return model_error(record, container, 0, f"The container primary closed the connection without answering "
                           f"({type(exc).__name__}): a worker crashed; the server log says why.")
    if response.status >= 500 and time.monotonic() - started >= timeout:
        # gunicorn aborts a worker busy for longer than its timeout and answers 500 for it
        return model_error(record, container, 0, timed_out(timeout))
    if len(answer) > MAX_RESPONSE:
        connection.close()  # the rest of the answer is never read
        return too_large_answer(record, container, response.status)
    if response.status >= 400:
        return model_error(record, container, response.status, answer.decode("utf-8", errors="replace"))
    out = [("Content-Type", response.getheader("Content-Type") or "application/json"),
           (VARIANT_HEADER, container.get("variant", "AllTraffic")),
           ("x-amzn-RequestId", str(uuid.uuid4())), ("Content-Length", str(len(answer)))]
    if response.getheader(CUSTOM_ATTRIBUTES):
        out.append((CUSTOM_ATTRIBUTES, str(response.getheader(CUSTOM_ATTRIBUTES))))
    return 200, out, answer


def _post(connection: http.client.HTTPConnection, body: bytes,
          headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes]:
    reused = connection.sock is not None
    try:
        connection.request("POST", "/invocations", body=body, headers=headers)
        response = connection.getresponse()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        if not reused:
            raise
        connection.close()  # the container closed an idle kept-alive connection: once more, on a new one
        connection.request("POST", "/invocations", body=body, headers=headers)
        response = connection.getresponse()
    return response, response.read(MAX_RESPONSE + 1)  # enough to tell it is too large, never more


def too_large_answer(record: dict[str, Any], container: dict[str, Any], status: int) -> Answer:
    """A model answer over :data:`MAX_RESPONSE`: SageMaker's words for a container answer it could not load."""
    name = record["EndpointName"]
    what = "response" if status < 400 else ("client error" if status < 500 else "server error")
    message = (f"Received {what} ({status}) from primary and could not load the entire response body: it is "
               f"over the {MAX_RESPONSE}-byte limit of a real-time invocation response. See "
               f"{container.get('log', 'the server log')} for more information.")
    return error(424, "ModelError", message, OriginalStatusCode=status, OriginalMessage=message,
                 LogStreamArn=_log_stream(record, container, name))


def timed_out(timeout: float) -> str:
    return f"Your invocation timed out while waiting for a response from container primary ({timeout} s)."


def model_error(record: dict[str, Any], container: dict[str, Any], status: int, original: str) -> Answer:
    name = record["EndpointName"]
    side = "client" if 400 <= status < 500 else "server"
    message = (f'Received {side} error ({status}) from primary with message "{original}". '
               f"See {container.get('log', 'the server log')} for more information.")
    return error(424, "ModelError", message, OriginalStatusCode=status, OriginalMessage=original,
                 LogStreamArn=_log_stream(record, container, name))


def _log_stream(record: dict[str, Any], container: dict[str, Any], name: str) -> str:
    region = record.get("EndpointArn", "arn:aws:sagemaker:us-east-1").split(":")[3]
    return (f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}"
            f":log-stream:{container.get('variant', 'AllTraffic')}/local")


def error(status: int, code: str, message: str, **fields: Any) -> Answer:
    """A rest-json error; without ``code`` botocore reports the status (as for the real 413)."""
    body = json.dumps({"Message": message, **fields} if code else {"message": message}).encode()
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4())),
               ("Content-Length", str(len(body)))]
    if code:
        headers.append(("x-amzn-ErrorType", code))
    return status, headers, body


# -- the gateway's life -------------------------------------------------------


def gateway_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


@contextmanager
def gateway_lock(home: LocalHome) -> Iterator[None]:
    """Serialises starting and stopping the gateway across smtrain processes."""
    from smtrain.files.private import make_private_dirs, open_private

    make_private_dirs(home.runtime_dir)
    with open_private(home.runtime_dir / "gateway.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_gateway(home: LocalHome, db: StateDB, requested_port: int = 0) -> str:
    """Start the gateway (under a keeper, which restarts it if it dies) unless it runs; its URL.
    Its port is the one recorded for the home: it never moves, so a URL handed out stays valid."""
    from smtrain.backends.local.jobs import processes

    with gateway_lock(home):
        record = db.get(*GATEWAY) or {}
        pid = record.get("_local", {}).get("pid", 0)
        if server_alive(pid, GATEWAY_MODULE) and (not requested_port or requested_port == record.get("Port")):
            return gateway_url(record["Port"])
        stop_server(pid, GATEWAY_MODULE)
        port = requested_port or record.get("Port", 0)
        with listening_socket(port, fixed=bool(port)) as listener:
            port = listener.getsockname()[1]
            fd = str(listener.fileno())
            server = processes.python_module_argv(GATEWAY_MODULE, "--home", str(home.root.absolute()), "--fd", fd)
            processes.spawn_detached(
                processes.python_module_argv(KEEPER_MODULE, "--fd", fd, "--", *server),
                log_path=home.runtime_dir / "gateway.log", env=child_environment(), pass_fds=[listener.fileno()],
                record=lambda pid: db.put(*GATEWAY, {"Port": port, "Url": gateway_url(port), "_local": {"pid": pid}}),
            )
        return gateway_url(port)


def stop_gateway_if_idle(home: LocalHome, db: StateDB) -> bool:
    """Stop the gateway once no endpoint is left; True if it was stopped. The port stays recorded."""
    with gateway_lock(home):
        record = db.get(*GATEWAY)
        if record is None or db.list("endpoint"):
            return False
        stop_server(record.get("_local", {}).get("pid", 0), GATEWAY_MODULE)
        record["_local"] = {"pid": 0}
        db.put(*GATEWAY, record)
        return True


def recorded_url(home: LocalHome, db: StateDB, requested_port: int = 0) -> str:
    """The gateway's URL without starting it: a port is chosen and recorded if none is."""
    with gateway_lock(home):
        record = db.get(*GATEWAY)
        if record is not None and (not requested_port or requested_port == record["Port"]):
            return gateway_url(record["Port"])
        with listening_socket(requested_port, fixed=bool(requested_port)) as probe:
            port = probe.getsockname()[1]
        db.put(*GATEWAY, {"Port": port, "Url": gateway_url(port), "_local": {"pid": 0}})
        return gateway_url(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m smtrain.backends.local.serving.runtime")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True, help="an inherited listening socket")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from smtrain.backends.local.serving.front import Served, base_options, run_gunicorn

    options = base_options(f"fd://{args.fd}", workers=2, timeout=120, name="smtrain-runtime")
    home = LocalHome(args.home)
    run_gunicorn(lambda: Served(Gateway(home.state()), max_body=MAX_BODY, too_large=too_large, threads=THREADS,
                                headers_too_large=headers_too_large), options)


if __name__ == "__main__":
    main()

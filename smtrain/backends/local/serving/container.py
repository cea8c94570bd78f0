"""The model container: SageMaker's inference contract over HTTP, served by gunicorn.

    python -m smtrain.backends.local.serving.container --model-dir DIR --code-dir DIR [--venvs DIR] [--fd N]

``GET /ping`` answers 200 once the model is loaded (the master loads it before
forking the workers, which retry on each ping if that failed; the failure is the 500 body);
``POST /invocations`` answers with :mod:`smtrain.backends.local.serving.inference`.
``X-Amzn-SageMaker-Custom-Attributes`` is not echoed: as in the image, the
answer carries it only if the model sets it, which the scikit-learn handler
functions have no way to do.

The server reads the image's variables: ``SAGEMAKER_MODEL_SERVER_WORKERS``
(default: the CPU count, as in the image), ``SAGEMAKER_MODEL_SERVER_TIMEOUT``
(60), ``SAGEMAKER_BIND_TO_PORT`` (8080), ``SAGEMAKER_PROGRAM``,
``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``, and smtrain's own
``SMTRAIN_MODEL_SERVER_MAX_GROWTH_MB`` (1024: how much memory a worker may gain
after its first request before it is replaced, see :mod:`.front`); a ``requirements.txt`` in the code is
installed first, as the image does. It listens on 127.0.0.1 only, or on
an inherited listening socket (``--fd``), which spares the parent a port race.
A worker that dies (even by ``os._exit``) is replaced by gunicorn's arbiter.

The image fronts its sync gunicorn workers with nginx, which reads each
request whole first, so slow clients cannot hold a worker; here each worker
does that itself (:mod:`.front`). Endpoints run it under a keeper
(:mod:`.keeper`), which restarts a dead master on the same socket.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from smtrain.backends.local.serving.keeper import KEEPER_MODULE, KEEPER_PID_ENVIRON, READY_FD_ENVIRON

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
CUSTOM_ATTRIBUTES_ENVIRON = "HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES"
DEFAULT_TIMEOUT = 60
DEFAULT_PORT = 8080

PING_TIMEOUT = 2.0  # SageMaker's own /ping timeout
CONTAINER_MODULE = "smtrain.backends.local.serving.container"
MAX_BODY = 100 * 1024 * 1024  # SageMaker's largest payload (batch transform's MaxPayloadInMB)
IN_REQUIREMENTS_VENV = "SMTRAIN_SERVING_REQUIREMENTS_INSTALLED"
MAX_GROWTH_ENVIRON = "SMTRAIN_MODEL_SERVER_MAX_GROWTH_MB"

logger = logging.getLogger("smtrain.container")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ModelApp:
    """The WSGI application of one worker: one model, loaded once."""

    def __init__(self, code_dir: Path, model_dir: Path, environ: Mapping[str, str]) -> None:
        self.code_dir = code_dir
        self.model_dir = model_dir
        self.environ = dict(environ)
        self.handler: Any = None

    def ensure_loaded(self) -> str:
        """Load the user module and the model; "" when ready, else why not."""
        from smtrain.backends.local.serving.inference import Handler

        try:
            if self.handler is None:
                self.handler = Handler.from_environment(self.code_dir, self.model_dir, self.environ)
            self.handler.load()
        except Exception as exc:
            logger.exception("the model failed to load")
            return f"the model failed to load: {type(exc).__name__}: {exc}"
        return ""

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/ping":
            if method not in ("GET", "HEAD"):
                return respond(start_response, 405, b"use GET /ping")
            return self.health(start_response)
        if path == "/invocations":
            if method != "POST":
                return respond(start_response, 405, b"use POST /invocations")
            return self.invocations(environ, start_response)
        return respond(start_response, 404, b"the model container serves GET /ping and POST /invocations")

    def health(self, start_response: StartResponse) -> Iterable[bytes]:
        error = self.ensure_loaded()
        return respond(start_response, 500, error.encode()) if error else respond(start_response, 200, b"")

    def invocations(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        error = self.ensure_loaded()
        if error:
            return respond(start_response, 500, error.encode())
        result = self.handler.invoke(read_body(environ), environ.get("CONTENT_TYPE"), environ.get("HTTP_ACCEPT"))
        return respond(start_response, result.status, result.body, result.content_type)


def respond(
    start_response: StartResponse, status: int, body: bytes,
    content_type: str = "text/plain; charset=utf-8", extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *(extra or [])]
    start_response(f"{status} {http.client.responses.get(status, 'Error')}", headers)
    return [body]


def read_body(environ: dict[str, Any], limit: int | None = None) -> bytes:
    """The request body; with ``limit``, at most ``limit + 1`` bytes (enough to tell it is too big)."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    size = int(length) if length.isdigit() else -1
    if limit is not None:
        size = limit + 1 if size < 0 else min(size, limit + 1)
    return bytes(stream.read(size) if size >= 0 else stream.read())


# -- the server ---------------------------------------------------------------


def server_options(environ: Mapping[str, str], bind: str) -> dict[str, Any]:
    from smtrain.backends.local.serving.front import base_options

    workers = int(environ.get("SAGEMAKER_MODEL_SERVER_WORKERS") or os.cpu_count() or 1)
    timeout = int(environ.get("SAGEMAKER_MODEL_SERVER_TIMEOUT") or DEFAULT_TIMEOUT)
    # The master imports the user's module and loads the model once; the workers fork with both
    # (seconds for scikit-learn and pandas, which every worker would otherwise import side by side).
    return {**base_options(bind, workers=workers, timeout=timeout, name="smtrain-model"), "preload_app": True}


def max_growth(environ: Mapping[str, str]) -> int:
    """Bytes a worker may grow by after its first request (``SMTRAIN_MODEL_SERVER_MAX_GROWTH_MB``, default 1024)."""
    from smtrain.backends.local.serving.front import DEFAULT_MAX_GROWTH

    text = environ.get(MAX_GROWTH_ENVIRON, "")
    if text.isdigit() and int(text) > 0:
        return int(text) * 1024 * 1024
    if text:
        logger.warning("%s=%r is not a positive number of MiB; using %d", MAX_GROWTH_ENVIRON, text,
                       DEFAULT_MAX_GROWTH // 1048576)
    return DEFAULT_MAX_GROWTH


def too_large() -> tuple[int, list[tuple[str, str]], bytes]:
    body = f"the request body is over {MAX_BODY} bytes".encode()
    return 413, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))], body


def bind_address(fd: int | None, environ: Mapping[str, str]) -> str:
    if fd is not None:
        return f"fd://{fd}"
    return f"127.0.0.1:{environ.get('SAGEMAKER_BIND_TO_PORT') or DEFAULT_PORT}"


# -- starting and probing a container (the endpoints API's side) -------------


def listening_socket(port: int = 0, *, fixed: bool = False) -> socket.socket:
    """A socket listening on 127.0.0.1 for a server to inherit; a taken port
    falls back to a free one unless ``fixed``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            if fixed or not port:
                raise
            sock.bind(("127.0.0.1", 0))
    except OSError as exc:
        sock.close()
        from smtrain.core.errors import EndpointError

        raise EndpointError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", where="local runtime",
                            hint="choose another port with SMTRAIN_RUNTIME_PORT, or 0 for any free one") from None
    sock.listen(128)
    return sock


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server process: ours, unbuffered, with smtrain importable."""
    import site

    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[4])
    # a source checkout run in place needs its root on the path; an installed smtrain must not
    # put site-packages there, ahead of a requirements.txt environment's own packages
    if package_root not in {*site.getsitepackages(), site.getusersitepackages()}:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def container_environment(model_environment: Mapping[str, str], port: int, root: Path) -> dict[str, str]:
    """What the container sees: the image's variables for the deployment under ``root`` and the
    model's Environment, not the caller's SageMaker variables."""
    from smtrain.backends.local.training.container_env import serving_environment

    env = {k: v for k, v in child_environment().items() if not k.startswith(("SAGEMAKER_", "SM_"))}
    env.update(serving_environment({k: str(v) for k, v in model_environment.items()}, root))
    env["SAGEMAKER_BIND_TO_PORT"] = str(port)
    return env


def local_path(uri: str, what: str) -> Path:
    from smtrain.core.uris import is_file_uri, to_path

    if is_file_uri(uri):
        return to_path(uri)
    if uri.startswith("s3://"):  # model data already in S3: downloaded once, with the user's credentials
        from smtrain.files.s3_cache import fetch_s3

        return fetch_s3(uri, progress=False)
    if "://" in uri:
        raise ValueError(f"the local backend reads {what} from file:// URIs, not {uri}")
    return Path(uri)


def unpack(uri: str, dest: Path, what: str) -> list[str]:
    """A model or source given as a .tar.gz or a directory, laid out in ``dest``; warnings for what a
    directory's copy left out (links out of it, secrets: see :func:`smtrain.files.packing.copy_folder`)."""
    source = local_path(uri, what)
    if source.is_dir():
        from smtrain.files.packing import copy_folder

        return copy_folder(source, dest).warnings()
    if source.is_file():
        from smtrain.files.tarballs import safe_extract

        safe_extract(source, dest)
        return []
    raise ValueError(f"{what} {uri} does not exist")


def start_container(
    root: Path, log_path: Path, container: Mapping[str, Any], venvs: Path, record: Callable[[dict[str, Any]], object],
) -> dict[str, Any]:
    """Lay out ``root/model`` and ``root/code`` from a model's container
    definition and start its server; the deployment's private record, which
    ``record`` keeps before the server runs (see :func:`launch`).
    ``venvs`` caches environments for a ``requirements.txt`` in the code."""
    model_dir, code_dir = root / "model", root / "code"
    model_dir.mkdir(parents=True, exist_ok=True)
    warnings = []
    if container.get("ModelDataUrl"):
        warnings += unpack(container["ModelDataUrl"], model_dir, "model data")
    environment = {k: str(v) for k, v in (container.get("Environment") or {}).items()}
    if environment.get("SAGEMAKER_SUBMIT_DIRECTORY"):
        warnings += unpack(environment["SAGEMAKER_SUBMIT_DIRECTORY"], code_dir, "source directory")
    if warnings:
        with open(log_path, "a", encoding="utf-8") as log:
            log.writelines(f"smtrain: {warning}\n" for warning in warnings)
    elif (model_dir / "code").is_dir():
        code_dir = model_dir / "code"  # the SDK's repack puts the script inside model.tar.gz
    code_dir.mkdir(parents=True, exist_ok=True)
    from smtrain.backends.local.environments.frameworks import version_from_image

    deployment = {"dir": str(root), "model_dir": str(model_dir), "code_dir": str(code_dir), "log": str(log_path),
                  "environment": environment, "venvs": str(venvs),
                  "framework_version": version_from_image(str(container.get("Image", ""))),
                  "timeout": int(environment.get("SAGEMAKER_MODEL_SERVER_TIMEOUT") or DEFAULT_TIMEOUT)}
    return launch(deployment, record=record)


def launch(
    deployment: dict[str, Any], *, record: Callable[[dict[str, Any]], object], port: int = 0,
) -> dict[str, Any]:
    """Start (or restart) the server of a laid-out deployment, under a keeper, on ``port``
    (when it is free; else on a fresh one). ``record`` gets the deployment with its pid before
    the server runs; if it raises (or Ctrl-C comes first), the server never runs."""
    from smtrain.backends.local.jobs import processes

    with listening_socket(port) as listener:
        port = listener.getsockname()[1]
        fd = str(listener.fileno())
        server = processes.python_module_argv(CONTAINER_MODULE, "--model-dir", deployment["model_dir"],
                                              "--code-dir", deployment["code_dir"], "--venvs", deployment["venvs"],
                                              "--fd", fd,
                                              "--framework-version", deployment.get("framework_version", ""))
        launched: dict[str, Any] = {}

        def record_launched(pid: int) -> None:
            launched.update(deployment, pid=pid, port=port, started=time.time())
            record(launched)

        processes.spawn_detached(
            processes.python_module_argv(KEEPER_MODULE, "--fd", fd, "--", *server),
            log_path=Path(deployment["log"]),
            env=container_environment(deployment["environment"], port, Path(deployment["dir"])),
            cwd=Path(deployment["code_dir"]), pass_fds=[listener.fileno()], record=record_launched,
        )
    return launched


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m smtrain.backends.local.serving.container")
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--code-dir", type=Path, required=True)
    parser.add_argument("--fd", type=int, default=None, help="an inherited listening socket")
    parser.add_argument("--venvs", type=Path, default=None, help="where to build an environment for requirements.txt")
    parser.add_argument("--framework-version", default="", help="the image's version (default: the newest)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not os.environ.get(IN_REQUIREMENTS_VENV):
        restart_in_environment(args.framework_version, args.code_dir, args.venvs)
    from smtrain.backends.local.serving.front import Served, run_gunicorn

    environ = dict(os.environ)
    environ.pop(KEEPER_PID_ENVIRON, None)
    environ.pop(READY_FD_ENVIRON, None)

    def model_app() -> Served:  # called once, in the master (preload_app): the workers fork with the model
        app = ModelApp(args.code_dir, args.model_dir, environ)
        app.ensure_loaded()  # a failure is logged, retried by each worker on /ping, and reported there
        return Served(app, max_body=MAX_BODY, too_large=too_large,  # one request at a time, as the image
                      max_growth=max_growth(environ))

    run_gunicorn(model_app, server_options(environ, bind_address(args.fd, environ)))


def restart_in_environment(framework_version: str, code_dir: Path, venvs: Path | None) -> None:
    """Serve in the framework's environment with ``requirements.txt`` installed on top, as the image
    does before serving (both cached): become this server under that Python, or stay when it is this one."""
    import subprocess
    import sys

    from smtrain.backends.local.environments import frameworks
    from smtrain.backends.local.environments.venvs import InstallFailed, ensure_venv

    def run(command: Any, cwd: Path) -> int:
        return subprocess.call(list(command), cwd=cwd)

    try:
        environment = frameworks.environment_for(framework_version or frameworks.default_version(), code_dir, run,
                                                 logger.info)
        python = environment.python
        requirements = code_dir / "requirements.txt"
        if venvs and requirements.is_file():
            logger.info("installing %s", requirements)
            python = str(ensure_venv(requirements, venvs, run, base=environment.venv,
                                     python=environment.base_python))
    except (InstallFailed, frameworks.FrameworkError) as exc:
        logger.error("the serving environment could not be made: %s", exc)
        sys.exit(1)
    if environment.warning:
        logger.warning(environment.warning)
    if python == sys.executable:
        return
    os.environ[IN_REQUIREMENTS_VENV] = "1"
    sys.stdout.flush()
    os.execv(python, [python, "-m", CONTAINER_MODULE, *sys.argv[1:]])  # the listening socket is inherited


if __name__ == "__main__":
    main()

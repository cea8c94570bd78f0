"""A gunicorn worker that buffers whole requests before the application sees them.

gunicorn's sync worker reads a request while it holds the worker: one client
that trickles its headers or body, or connects and sends nothing, holds it
until its timeout; a few such clients hold them all. gunicorn's docs say so,
and it is why the SageMaker scikit-learn image puts nginx before gunicorn:
nginx reads each request whole, and only then hands it to a sync worker.

:class:`BufferedWorker` does the same inside each worker, with tornado's
HTTP server (an event loop; a slow client costs a socket, never a worker):

- the WSGI application is called only with a complete request, inline
  (one request at a time per worker, as the image's sync workers) or on a
  thread pool (:attr:`Served.threads`, for the gateway, which mostly waits);
- headers must arrive within :data:`HEADER_TIMEOUT` seconds and a body
  within :data:`BODY_TIMEOUT`, or the connection is closed;
- a declared ``Content-Length`` over :attr:`Served.max_body` is answered
  at once with :attr:`Served.too_large` (413), before any body is read; what
  the client still sends is then drained for a moment (as nginx's lingering
  close) so that it reads the answer instead of a reset;
- SIGTERM, or a master that died, stops it gracefully: it accepts for a
  moment more (a peer may just have picked this server), stops listening,
  finishes every request it holds, then exits. Under a keeper that adopted
  it (:mod:`.keeper`), a dead master's worker serves on until the keeper
  stops it, once the new master's workers are ready; each worker tells the
  keeper when it is (the app loaded, it starts serving).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gunicorn.workers.base import Worker
from tornado import httputil
from tornado.concurrent import dummy_executor
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.iostream import IOStream, StreamClosedError
from tornado.wsgi import WSGIContainer

from smtrain.backends.local.serving.keeper import KEEPER_PID_ENVIRON, READY_FD_ENVIRON
from smtrain.backends.local.serving.timeouts import GRACEFUL_TIMEOUT

HEADER_TIMEOUT = 10.0  # also how long an idle kept-alive connection stays open
BODY_TIMEOUT = 30.0
LINGER_SECONDS = 0.5  # still accepting after SIGTERM
DRAIN_IDLE_SECONDS = 1.0  # lingering close: stop draining a refused body after this long without data
DRAIN_LIMIT = 256 * 1024 * 1024
TICK_SECONDS = 0.2

Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass
class Served:
    """What a worker serves: a WSGI app and its limits (returned by the gunicorn app factory)."""

    app: Callable[..., Iterable[bytes]]
    max_body: int
    too_large: Callable[[], Answer]
    threads: int = 0  # 0: call the app inline, one request at a time
    active: int = field(default=0, init=False)


class BufferedWorker(Worker):
    """``worker_class`` for :func:`run_gunicorn`."""

    alive: bool
    ppid: int

    def run(self) -> None:
        served: Served = self.wsgi
        executor: Executor = ThreadPoolExecutor(served.threads) if served.threads else dummy_executor
        container = WSGIContainer(served.app, executor=executor)
        self.served = served
        self.stopping = False
        loop = IOLoop.current()

        def handle(request: httputil.HTTPServerRequest) -> None:
            served.active += 1
            loop.spawn_callback(_answer, container, request, served)

        self.server = _Server(handle, served, idle_connection_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT,
                              max_body_size=served.max_body)
        for listener in self.sockets:
            listener.setblocking(False)
            self.server.add_socket(listener)
        PeriodicCallback(self.tick, TICK_SECONDS * 1000).start()
        _tell_keeper_ready()
        loop.start()

    def tick(self) -> None:
        self.notify()
        if self.alive and self.ppid != os.getppid():
            if str(os.getppid()) == os.environ.get(KEEPER_PID_ENVIRON):
                self.log.info("the master is gone; worker %s serves on until a new one is ready", self.pid)
                self.ppid = os.getppid()  # adopted: the keeper stops it (and if the keeper dies, it stops)
            else:
                self.log.info("the master is gone; worker %s stops", self.pid)
                self.alive = False
        if not self.alive and not self.stopping:
            self.stopping = True
            IOLoop.current().spawn_callback(self.drain)

    async def drain(self) -> None:
        await asyncio.sleep(LINGER_SECONDS)
        self.server.stop()
        deadline = time.monotonic() + max(1.0, self.cfg.graceful_timeout - LINGER_SECONDS - 1)
        while self.served.active and time.monotonic() < deadline:
            self.notify()
            await asyncio.sleep(0.05)
        await self.server.close_all_connections()
        IOLoop.current().stop()


def _tell_keeper_ready() -> None:
    with contextlib.suppress(ValueError, OSError):
        os.write(int(os.environ.get(READY_FD_ENVIRON, "")), f"{os.getpid()}\n".encode())


async def _answer(container: WSGIContainer, request: httputil.HTTPServerRequest, served: Served) -> None:
    try:
        await container.handle_request(request)
    except Exception:
        from tornado.log import app_log

        app_log.exception("the application failed on %s %s", request.method, request.path)
        if request.connection is not None:
            body = b"the server failed to answer; its log says why"
            request.connection.write_headers(
                httputil.ResponseStartLine("HTTP/1.1", 500, "Internal Server Error"),
                httputil.HTTPHeaders({"Content-Length": str(len(body)), "Connection": "close"}), body)
            request.connection.finish()
    finally:
        served.active -= 1


class _Server(HTTPServer):
    def initialize(self, request_callback: Any, served: Served, **settings: Any) -> None:  # type: ignore[override]
        super().initialize(request_callback, **settings)
        self.served = served

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        return _Guard(super().start_request(server_conn, request_conn), request_conn, self.served)


class _Guard(httputil.HTTPMessageDelegate):
    """Refuses a declared body over the limit before reading it; counts requests being read."""

    def __init__(self, inner: httputil.HTTPMessageDelegate, connection: httputil.HTTPConnection,
                 served: Served) -> None:
        self.inner, self.connection, self.served = inner, connection, served
        self.reading = False

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> Any:
        length = headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.served.max_body:
            return _refuse(self.connection.detach(), self.served.too_large(), int(length))  # type: ignore[attr-defined]
        self.reading = True
        self.served.active += 1
        return self.inner.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.inner.data_received(chunk)

    def finish(self) -> None:
        self._done()
        self.inner.finish()

    def on_connection_close(self) -> None:
        self._done()
        self.inner.on_connection_close()

    def _done(self) -> None:
        if self.reading:
            self.reading = False
            self.served.active -= 1


async def _refuse(stream: IOStream, answer: Answer, declared: int) -> None:
    """Answer at once, then read (and drop) what the client still sends, briefly, so it sees the answer."""
    status, headers, body = answer
    head = [f"HTTP/1.1 {status} {httputil.responses.get(status, 'Error')}",
            *(f"{k}: {v}" for k, v in headers if k.lower() != "connection"), "Connection: close"]
    try:
        await stream.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        stream.socket.shutdown(socket.SHUT_WR)
        remaining = min(declared, DRAIN_LIMIT)
        while remaining > 0:
            chunk = await asyncio.wait_for(stream.read_bytes(min(remaining, 1 << 20), partial=True),
                                           DRAIN_IDLE_SECONDS)
            remaining -= len(chunk)
    except (StreamClosedError, OSError, TimeoutError):
        pass
    finally:
        stream.close()


# -- running it -----------------------------------------------------------------


def run_gunicorn(app_factory: Callable[[], Served], options: Mapping[str, Any]) -> None:
    """Serve ``app_factory()`` with gunicorn and :class:`BufferedWorker`, in this process; the factory is
    called in each worker, or once in the master with ``preload_app``. Under a keeper, the master exits
    when the keeper dies, so no server outlives it."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)
            if os.environ.get(KEEPER_PID_ENVIRON):
                self.cfg.set("when_ready", _exit_with_keeper)

        def load(self) -> Served:
            return app_factory()

    Server().run()


def _exit_with_keeper(_arbiter: Any) -> None:
    import signal
    import threading

    keeper = int(os.environ[KEEPER_PID_ENVIRON])

    def watch() -> None:
        while os.getppid() == keeper:
            time.sleep(0.25)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="keeper-watch", daemon=True).start()


def base_options(bind: str, *, workers: int, timeout: int, name: str) -> dict[str, Any]:
    return {
        "bind": [bind],
        "workers": workers,
        "worker_class": "smtrain.backends.local.serving.front.BufferedWorker",
        "timeout": timeout,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": name,
        # gunicorn >= 25 opens a control socket under $HOME by default; one per server would collide
        "control_socket_disable": True,
    }

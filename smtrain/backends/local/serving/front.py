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
- headers are held to gunicorn's own limits (``limit_request_fields`` 100,
  ``limit_request_field_size`` 8190 bytes, and so at most 100 x 8192 bytes in
  all): beyond them the answer is gunicorn's, 431 Request Header Fields Too
  Large, then the same lingering close, never a reset;
- after each request the worker checks its memory: one that grew by more
  than :attr:`Served.max_growth` since its first request (a ``predict_fn``
  that leaks) finishes what it holds and is replaced by a fresh one, as
  gunicorn's ``max_requests`` recycles a worker (which it also honours). The
  image sets neither: sagemaker-containers' ``_server.start`` (2.8.6, the
  version the scikit-learn image pins) runs gunicorn with only ``--timeout``,
  ``-k gevent``, ``--worker-connections``, ``-w`` and ``--log-level``, so a
  leaking worker there grows until the instance runs out of memory;
- SIGTERM, or a master that died, stops it gracefully: if a request came in
  the last :data:`LINGER_SECONDS`, it accepts for that long more (a peer may
  just have picked this server; an idle one stops listening at once), stops
  listening, finishes every request it holds, then exits (without the
  interpreter's teardown of scikit-learn and pandas: tenths of a second). Under a keeper that adopted
  it (:mod:`.keeper`), a dead master's worker serves on until the keeper
  stops it, once the new master's workers are ready; each worker tells the
  keeper when it is (the app loaded, it starts serving).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
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
from tornado.iostream import IOStream, StreamClosedError, UnsatisfiableReadError
from tornado.wsgi import WSGIContainer

from smtrain.backends.local.serving.keeper import KEEPER_PID_ENVIRON, READY_FD_ENVIRON
from smtrain.backends.local.serving.timeouts import GRACEFUL_TIMEOUT

HEADER_TIMEOUT = 10.0  # also how long an idle kept-alive connection stays open
BODY_TIMEOUT = 30.0
LINGER_SECONDS = 0.5  # still accepting after SIGTERM, when a request came this recently
DRAIN_IDLE_SECONDS = 1.0  # lingering close: stop draining a refused body after this long without data
DRAIN_LIMIT = 256 * 1024 * 1024
TICK_SECONDS = 0.2
# gunicorn's defaults (gunicorn/config.py: limit_request_fields, limit_request_field_size; http/message.py reads at
# most fields x (size + 2) bytes of headers), and its answer beyond them (workers/base.py: LimitRequestHeaders)
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_BYTES = 8190
MAX_HEADER_BYTES = MAX_HEADER_FIELDS * (MAX_HEADER_FIELD_BYTES + 2)
DEFAULT_MAX_GROWTH = 1024 * 1024 * 1024  # a worker this much larger than after its first request is replaced

Answer = tuple[int, list[tuple[str, str]], bytes]


def headers_too_large(what: str) -> Answer:
    """gunicorn's answer to headers beyond its limits."""
    body = f"Error parsing headers: '{what}'".encode()
    return 431, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))], body


@dataclass
class Served:
    """What a worker serves: a WSGI app and its limits (returned by the gunicorn app factory)."""

    app: Callable[..., Iterable[bytes]]
    max_body: int
    too_large: Callable[[], Answer]
    threads: int = 0  # 0: call the app inline, one request at a time
    max_growth: int = DEFAULT_MAX_GROWTH  # bytes of memory a worker may gain after its first request
    headers_too_large: Callable[[str], Answer] = headers_too_large
    active: int = field(default=0, init=False)
    last_request: float = field(default=-LINGER_SECONDS, init=False)  # time.monotonic() of the latest one
    idle: asyncio.Event = field(default_factory=asyncio.Event, init=False)  # set whenever active drops to 0
    retiring: bool = field(default=False, init=False)  # replaced for its size or age: every answer closes

    def begin(self) -> None:
        self.active += 1
        self.last_request = time.monotonic()
        self.idle.clear()

    def end(self) -> None:
        self.active -= 1
        if not self.active:
            self.idle.set()


class BufferedWorker(Worker):
    """``worker_class`` for :func:`run_gunicorn`."""

    alive: bool
    ppid: int

    def run(self) -> None:
        served: Served = self.wsgi
        executor: Executor = ThreadPoolExecutor(served.threads) if served.threads else dummy_executor
        self.served = served
        self.stopping = False
        self.nr = 0
        self.baseline_rss = 0
        self.answering: Any = None  # the connection of the request being answered inline (threads=0)
        container = WSGIContainer(self.counted(served.app), executor=executor)
        loop = IOLoop.current()

        async def answer(request: httputil.HTTPServerRequest) -> None:
            self.answering = request.connection if not served.threads else None
            try:
                await _answer(container, request, served)
            finally:
                self.answering = None
            if self.served.retiring and not self.stopping:
                self.tick()  # stop listening now, not at the next tick: nothing more reaches this worker

        def handle(request: httputil.HTTPServerRequest) -> None:
            served.begin()
            loop.spawn_callback(answer, request)

        self.server = _Server(handle, served, idle_connection_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT,
                              max_body_size=served.max_body, max_header_size=MAX_HEADER_BYTES)
        for listener in self.sockets:
            listener.setblocking(False)
            self.server.add_socket(listener)
        PeriodicCallback(self.tick, TICK_SECONDS * 1000).start()
        loop.asyncio_loop.add_signal_handler(signal.SIGTERM, self.terminate)  # type: ignore[attr-defined]
        _tell_keeper_ready()
        loop.start()

    def terminate(self) -> None:
        """SIGTERM: start draining now, not at the next tick."""
        self.alive = False
        self.tick()

    def counted(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """The app, followed by :meth:`count_request` once it has its answer (before the answer is written)."""

        def counted_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            try:
                return app(environ, start_response)
            finally:
                self.count_request()

        return counted_app

    def count_request(self) -> None:
        """Retire this worker (gracefully: :meth:`drain`) after ``max_requests``, or once it has grown by more
        than ``max_growth`` since its first request; gunicorn's arbiter then starts a fresh one. The answer
        being written then says "Connection: close", so its client comes back to the fresh worker."""
        import psutil

        self.nr += 1
        rss = psutil.Process().memory_info().rss
        if not self.baseline_rss:
            self.baseline_rss = rss
        grown = rss - self.baseline_rss
        if self.alive and (self.nr >= self.max_requests or grown > self.served.max_growth):
            why = (f"grew by {grown // 1048576} MiB since its first request" if grown > self.served.max_growth
                   else f"served {self.nr} requests (max_requests)")
            self.log.info("worker %s %s: it finishes its requests and is replaced", self.pid, why)
            self.served.retiring = True
            self.alive = False
            if self.answering is not None:
                _close_after_answer(self.answering)

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
        # a stopped server lingers (a peer may just have picked it); a retired one stops listening at once: the
        # listening socket stays with the arbiter, so what comes next waits for the fresh worker
        recent = time.monotonic() - self.served.last_request < LINGER_SECONDS
        await asyncio.sleep(LINGER_SECONDS if recent and not self.served.retiring else 0)
        self.server.stop()
        deadline = time.monotonic() + max(1.0, self.cfg.graceful_timeout - LINGER_SECONDS - 1)
        while self.served.active and (left := deadline - time.monotonic()) > 0:
            self.notify()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.served.idle.wait(), min(left, 1.0))
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
        served.end()


class _Server(HTTPServer):
    def initialize(self, request_callback: Any, served: Served, **settings: Any) -> None:  # type: ignore[override]
        super().initialize(request_callback, **settings)
        self.served = served

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        return _Guard(super().start_request(server_conn, request_conn), request_conn, self.served)

    def handle_stream(self, stream: IOStream, address: tuple[Any, ...]) -> None:
        """Headers over :data:`MAX_HEADER_BYTES` make tornado close the stream at once (a reset, with the rest
        unread): answer them as gunicorn does instead, on a duplicate of the socket, then close."""
        close = stream.close
        served = self.served

        def answer_then_close(exc_info: Any = False) -> None:
            if isinstance(exc_info, UnsatisfiableReadError) and stream.socket is not None:
                with contextlib.suppress(OSError):
                    duplicate = stream.socket.dup()
                    duplicate.setblocking(False)
                    headers = f"within {MAX_HEADER_BYTES} bytes" in str(exc_info)
                    answer = served.headers_too_large("max buffer headers") if headers else _bad_request()
                    IOLoop.current().spawn_callback(_refuse, IOStream(duplicate), answer, DRAIN_LIMIT)
            close(exc_info)

        stream.close = answer_then_close  # type: ignore[method-assign]
        super().handle_stream(stream, address)


def _close_after_answer(connection: Any) -> None:
    """Answer, then close: a kept-alive client comes back on a new connection, to the fresh worker. (tornado has
    no public switch for this; with it, its own ``write_headers`` adds "Connection: close".)"""
    connection._disconnect_on_finish = True


def _bad_request() -> Answer:
    body = b"malformed request"
    return 400, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))], body


class _Guard(httputil.HTTPMessageDelegate):
    """Refuses a declared body over the limit before reading it; counts requests being read."""

    def __init__(self, inner: httputil.HTTPMessageDelegate, connection: httputil.HTTPConnection,
                 served: Served) -> None:
        self.inner, self.connection, self.served = inner, connection, served
        self.reading = False

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> Any:
        length = headers.get("Content-Length", "")
        declared = int(length) if length.isdigit() else 0
        fields = list(headers.get_all())
        if len(fields) > MAX_HEADER_FIELDS:
            return self._refuse(self.served.headers_too_large("limit request headers fields"), declared)
        if any(len(name) + 2 + len(value) > MAX_HEADER_FIELD_BYTES for name, value in fields):
            return self._refuse(self.served.headers_too_large("limit request headers fields size"), declared)
        if declared > self.served.max_body:
            return self._refuse(self.served.too_large(), declared)
        self.reading = True
        self.served.begin()
        if self.served.retiring:
            _close_after_answer(self.connection)
        return self.inner.headers_received(start_line, headers)

    def _refuse(self, answer: Answer, declared: int) -> Any:
        return _refuse(self.connection.detach(), answer, declared)  # type: ignore[attr-defined]

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
            self.served.end()


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
    when the keeper dies, so no server outlives it. The master and each worker (a fork that unwinds
    through here) end without the interpreter's teardown: with scikit-learn and pandas loaded it takes
    0.2-0.4 s a process, which every stop would wait for."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)
            if os.environ.get(KEEPER_PID_ENVIRON):
                self.cfg.set("when_ready", _exit_with_keeper)

        def load(self) -> Served:
            return app_factory()

        def run(self) -> None:
            try:
                quick_stop_arbiter()(self).run()
            except RuntimeError as exc:  # as gunicorn's own run
                raise SystemExit(f"\nError: {exc}\n") from None

    try:
        Server().run()
    except SystemExit as exc:
        _exit_now(exc.code)


class _WorkersExited(Exception):
    """Raised in the arbiter's stop once every worker has exited: nothing is left to wait for."""


def quick_stop_arbiter() -> type:
    """gunicorn's arbiter, whose stop returns once its workers have exited. gunicorn's own checks every
    0.1 s and sleeps once more after the last reap (0.2 s of every teardown); here a SIGCHLD that leaves no
    worker running, or a reap that leaves none, ends the wait at once."""
    from gunicorn.arbiter import Arbiter

    class QuickStopArbiter(Arbiter):
        stopping = False

        def stop(self, graceful: bool = True) -> None:
            self.stopping = True
            try:
                super().stop(graceful)
            except _WorkersExited:
                self.stopping = False
                self.reap_workers()
            finally:
                self.stopping = False

        def reap_workers(self) -> None:
            super().reap_workers()
            if self.stopping and not self.WORKERS and not self.dirty_arbiter_pid:
                raise _WorkersExited

        def signal(self, sig: int, frame: Any) -> None:
            super().signal(sig, frame)
            # no reaping (and so no logging) in a signal handler: only a look at whether any worker still runs
            if self.stopping and sig == signal.SIGCHLD and not self.dirty_arbiter_pid and not any(
                    _running(pid) for pid in list(self.WORKERS)):
                raise _WorkersExited

    return QuickStopArbiter


def _running(pid: int) -> bool:
    """Whether our child ``pid`` has not exited yet (it is not reaped here)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False


def _exit_now(code: object) -> None:
    import logging
    import sys

    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)


def _exit_with_keeper(_arbiter: Any) -> None:
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

"""Load and slow clients against a local endpoint, through the SageMaker Runtime API.

Deploys the penguins model locally (in a scratch home), then:

1. the latency of a normal request (median of 20, one at a time) alone, then
   beside N slow connections (a third send nothing, a third half a header, a
   third trickle a declared body) against the runtime gateway, and against
   the model container directly;
2. REQUESTS single-row CSV requests at CONCURRENCY (keep-alive clients in
   threads of a separate process) to POST /endpoints/{name}/invocations:
   errors, p50/p99, and the RSS of every server process (keeper, gunicorn
   master, workers of the gateway and of the container) before and after.

Everything is on 127.0.0.1 and bounded (client timeouts, request counts).

    python bench/load.py [--requests 10000] [--concurrency 16] [--slow-clients 64] [--workers 0] [--samples 20]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import psutil
from penguins_endpoint import ROW, deployed, percentile

TIMEOUT = 30.0


def run_clients(url: str, endpoint: str, requests: int, concurrency: int) -> dict[str, object]:
    """``requests`` requests shared by ``concurrency`` keep-alive clients; latencies and errors."""
    parsed = urlparse(url)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    budget = iter(range(requests))

    def client() -> None:
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=TIMEOUT)
        while True:
            with lock:
                if next(budget, None) is None:
                    break
            start = time.perf_counter()
            try:
                connection.request("POST", f"/endpoints/{endpoint}/invocations", body=ROW,
                                   headers={"Content-Type": "text/csv", "Accept": "application/json"})
                response = connection.getresponse()
                response.read()
                outcome = "" if response.status == 200 else f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                outcome = type(exc).__name__
                connection.close()
                connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=TIMEOUT)
            with lock:
                (errors.append(outcome) if outcome else latencies.append(time.perf_counter() - start))
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "errors": errors, "seconds": time.perf_counter() - started}


# -- slow clients -----------------------------------------------------------------


@contextlib.contextmanager
def slow_clients(port: int, count: int) -> Iterator[None]:
    sockets = []
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.2):
            for sock in sockets[2::3]:
                with contextlib.suppress(OSError):
                    sock.sendall(b"1")

    for index in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sockets.append(sock)
        if index % 3 == 1:
            sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Ty")
        elif index % 3 == 2:
            sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n1,")
    trickler = threading.Thread(target=trickle)
    trickler.start()
    time.sleep(0.5)
    try:
        yield
    finally:
        stop.set()
        trickler.join()
        for sock in sockets:
            sock.close()


def one_request(port: int, path: str) -> float:
    """Seconds for one request on a fresh connection; TIMEOUT (and a note) if it did not answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    start = time.perf_counter()
    try:
        connection.request("POST", path, body=ROW, headers={"Content-Type": "text/csv"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
    except (OSError, http.client.HTTPException):
        return TIMEOUT
    finally:
        connection.close()
    return time.perf_counter() - start


def median_of(run: Callable[[], float], n: int) -> str:
    times = [run() for _ in range(n)]
    failed = sum(t >= TIMEOUT for t in times)
    return f"median {statistics.median(times) * 1000:8.1f} ms  max {max(times) * 1000:8.1f} ms" + (
        f"  ({failed} of {n} got no answer within {TIMEOUT:.0f} s)" if failed else "")


# -- server processes ---------------------------------------------------------------


def group(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(process.pid) == pgid:
                members.append(process)
    return members


def role(process: psutil.Process, pgid: int) -> str:
    if "keeper" in " ".join(process.cmdline()):
        return "keeper"
    return "master" if process.children() else "worker"


def rss(groups: dict[str, int]) -> dict[int, tuple[str, int]]:
    found = {}
    for name, pgid in groups.items():
        for process in group(pgid):
            with contextlib.suppress(psutil.Error):
                found[process.pid] = (f"{name} {role(process, pgid)}", process.memory_info().rss)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--slow-clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="SAGEMAKER_MODEL_SERVER_WORKERS (0: default)")
    parser.add_argument("--samples", type=int, default=20, help="normal requests timed in each slow-client phase")
    parser.add_argument("--client", nargs=3, metavar=("URL", "ENDPOINT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        url, endpoint, out = args.client
        Path(out).write_text(json.dumps(run_clients(url, endpoint, args.requests, args.concurrency)))
        return
    import smtrain

    with tempfile.TemporaryDirectory(prefix="smtrain-bench-") as scratch, \
            deployed(Path(scratch), args.workers) as (session, _, endpoint):
        work = Path(scratch)
        db = session.backend.sagemaker().db
        container = db.get("endpoint", endpoint.name)["_local"]["current"]
        groups = {"gateway": db.get("runtime", "gateway")["_local"]["pid"], "container": container["pid"]}
        gateway_port = urlparse(endpoint.url).port
        invocations = f"/endpoints/{endpoint.name}/invocations"
        for _ in range(50):
            one_request(gateway_port, invocations)  # warm up
        print(f"\nA normal request, {args.slow_clients} slow clients (smtrain at {smtrain.__file__})")
        gateway = lambda: one_request(gateway_port, invocations)  # noqa: E731
        direct = lambda: one_request(container["port"], "/invocations")  # noqa: E731
        print(f"  gateway alone              {median_of(gateway, args.samples)}")
        with slow_clients(gateway_port, args.slow_clients):
            print(f"  gateway + slow clients     {median_of(gateway, args.samples)}")
        print(f"  container alone            {median_of(direct, args.samples)}")
        with slow_clients(container["port"], args.slow_clients):
            print(f"  container + slow clients   {median_of(direct, args.samples)}")
        before = rss(groups)
        out = work / "load.json"
        # The load runs in its own process so the client's GIL does not slow the measuring side.
        subprocess.run([sys.executable, __file__, "--requests", str(args.requests), "--concurrency",
                        str(args.concurrency), "--client", endpoint.url, endpoint.name, str(out)], check=True)
        result = json.loads(out.read_text())
        after = rss(groups)
    latencies, errors = result["latencies"], result["errors"]
    print(f"\n{args.requests} requests at concurrency {args.concurrency}, workers={args.workers or 'default'}: "
          f"{len(errors)} errors {sorted(set(errors))}, {len(latencies) / result['seconds']:.0f} req/s, "
          f"p50 {percentile(latencies, 0.5) * 1000:.2f} ms, p99 {percentile(latencies, 0.99) * 1000:.2f} ms")
    print("  RSS of every server process (MiB): before -> after load (growth)")
    for pid in sorted(set(before) | set(after)):
        name = (before.get(pid) or after[pid])[0]
        was, now = before.get(pid, (name, 0))[1], after.get(pid, (name, 0))[1]
        print(f"  {name:<18} pid {pid:>7}  {was / 2**20:7.1f} -> {now / 2**20:7.1f}  ({(now - was) / 2**20:+.1f})"
              + ("" if pid in before and pid in after else "  (started or ended during the load)"))


if __name__ == "__main__":
    main()

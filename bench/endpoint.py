"""Local endpoint throughput and latency through the SageMaker Runtime API.

Single-row CSV requests at concurrency 8 (keep-alive HTTP clients in
threads of a separate process) against POST /endpoints/{name}/invocations
on the local runtime address, beside the in-process time of the same
pipeline: the script's input_fn -> predict_fn -> output_fn on one row.

    python bench/endpoint.py [--seconds 10] [--concurrency 8] [--workers 0] [--direct 3]

``--direct N`` adds N interleaved rounds of the same load through the runtime
API and straight to the model container's POST /invocations; it prints the
median req/s of each and the ratio (the gateway's cost).
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from common import REPO

ROW = "Adelie,Torgersen,39.1,18.7,181.0,3750.0"


def load(url: str, endpoint: str, seconds: float, concurrency: int) -> list[float]:
    """Latencies of every request sent in ``seconds`` by ``concurrency`` keep-alive clients."""
    parsed = urlparse(url)
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        mine = []
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            connection.request("POST", f"/endpoints/{endpoint}/invocations" if endpoint else "/invocations", body=ROW,
                               headers={"Content-Type": "text/csv", "Accept": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def in_process(model_data: Path, iterations: int = 500) -> list[float]:
    sys.path.insert(0, str(REPO / "entry_points"))
    import penguins  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory() as model_dir:
        with tarfile.open(model_data) as archive:
            archive.extractall(model_dir, filter="data")
        model = penguins.model_fn(model_dir)
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            penguins.output_fn(penguins.predict_fn(penguins.input_fn(ROW, "text/csv"), model), "application/json")
            times.append(time.perf_counter() - start)
    return times


def container_url(home: Path, name: str) -> str:
    from smtrain.backends.local.home import LocalHome

    return f"http://127.0.0.1:{LocalHome(home).state().get('endpoint', name)['_local']['current']['port']}"


def gateway_cpu(home: Path) -> float:
    """CPU seconds used so far by the runtime gateway's processes (keeper, master, workers)."""
    from smtrain.backends.local.home import LocalHome
    from smtrain.backends.local.processes import group_members

    pid = LocalHome(home).state().get("runtime", "gateway")["_local"]["pid"]
    return sum(sum(p.cpu_times()[:2]) for p in group_members(pid))


def direct(args: argparse.Namespace, url: str, name: str, container: str, out: Path, home: Path) -> None:
    rates: dict[str, list[float]] = {"runtime API": [], "container": []}
    cpu, requests = 0.0, 0
    for _ in range(args.direct):
        for label, target, endpoint in (("runtime API", url, name), ("container", container, "-")):
            before = gateway_cpu(home)
            subprocess.run([sys.executable, __file__, "--seconds", str(args.seconds), "--concurrency",
                            str(args.concurrency), "--client", target, endpoint, str(out)], check=True)
            rates[label].append(len(out.read_text().split()) / args.seconds)
            if endpoint != "-":
                cpu, requests = cpu + gateway_cpu(home) - before, requests + len(out.read_text().split())
    runtime, own = statistics.median(rates["runtime API"]), statistics.median(rates["container"])
    print(f"\n{args.direct} interleaved rounds, median req/s: runtime API {runtime:.0f}, container {own:.0f}, "
          f"ratio {runtime / own:.2f}  (runtime {[round(r) for r in rates['runtime API']]}, "
          f"container {[round(r) for r in rates['container']]}); "
          f"gateway CPU {cpu / max(requests, 1) * 1000:.2f} ms per request")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0, help="SAGEMAKER_MODEL_SERVER_WORKERS (0: default)")
    parser.add_argument("--direct", type=int, default=0, help="interleaved rounds: runtime API vs the container")
    parser.add_argument("--client", nargs=3, metavar=("URL", "ENDPOINT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        url, endpoint, out = args.client
        endpoint = "" if endpoint == "-" else endpoint  # the container itself
        Path(out).write_text("\n".join(map(str, load(url, endpoint, args.seconds, args.concurrency))))
        return
    import smtrain

    with tempfile.TemporaryDirectory(prefix="smtrain-bench-") as scratch:
        work = Path(scratch)
        session = smtrain.Session(home=str(work / "home"), quiet=True)
        data = session.prepare(out_dir=work / "data", progress=False)
        job = session.fit("penguins.py", source_dir=REPO / "entry_points", channels={"train": data.train_uri},
                          hyperparameters=data.hyperparameters())
        endpoint = session.deploy(job.name, workers=args.workers)
        try:
            out = work / "latencies.txt"
            # The load runs in its own process so the client's GIL does not slow the measuring side.
            subprocess.run([sys.executable, __file__, "--seconds", str(args.seconds), "--concurrency",
                            str(args.concurrency), "--client", endpoint.url, endpoint.name, str(out)], check=True)
            latencies = [float(x) for x in out.read_text().split()]
            if args.direct:
                direct(args, endpoint.url, endpoint.name, container_url(work / "home", endpoint.name), out,
                       work / "home")
        finally:
            session.teardown(endpoint.name)
        local = in_process(Path(job.model_data.removeprefix("file://")))
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    print(f"\nLocal endpoint, single-row CSV, concurrency {args.concurrency}, {args.seconds:.0f} s, "
          f"workers={args.workers or 'default'}")
    print(f"  runtime API    {len(latencies) / args.seconds:8.0f} req/s   p50 {p50 * 1000:6.2f} ms   "
          f"p99 {p99 * 1000:6.2f} ms   (n={len(latencies)})")
    print(f"  in-process     {1 / statistics.mean(local):8.0f} calls/s p50 {percentile(local, 0.5) * 1000:6.2f} ms   "
          f"p99 {percentile(local, 0.99) * 1000:6.2f} ms   (n={len(local)}, one thread)")
    print(f"  p50 ratio (runtime API / in-process): {p50 / percentile(local, 0.5):.2f}x")


if __name__ == "__main__":
    main()

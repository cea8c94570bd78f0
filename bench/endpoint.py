"""Local endpoint throughput and latency through the SageMaker Runtime API.

Single-row CSV requests at concurrency 8 (bench/loadgen.py: keep-alive HTTP
clients in threads of a separate process) against POST /endpoints/{name}/invocations
on the local runtime address, beside the in-process time of the same
pipeline: the script's input_fn -> predict_fn -> output_fn on one row.

    python bench/endpoint.py [--seconds 10] [--concurrency 8] [--workers 0] [--direct 3]

``--direct N`` adds N interleaved rounds of the same load through the runtime
API and straight to the model container's POST /invocations; it prints the
median req/s of each and the ratio (the gateway's cost).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from common import REPO
from penguins_endpoint import ROW, deployed, percentile

BENCH = Path(__file__).resolve().parent


def load(url: str, body: Path, seconds: float, concurrency: int) -> dict[str, Any]:
    """bench/loadgen.py's figures ({"requests", "errors", "seconds", "p50", "p99"}) for one load on ``url``."""
    out = subprocess.run([sys.executable, str(BENCH / "loadgen.py"), url, str(body), "text/csv", str(seconds),
                          str(concurrency)], check=True, capture_output=True, text=True, timeout=seconds + 120).stdout
    figures: dict[str, Any] = json.loads(out)
    if figures["errors"]:
        raise RuntimeError(f"{figures['errors']} failed requests to {url}: {figures['first_error']}")
    return figures


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
    from smtrain.backends.local.store.home import LocalHome

    return f"http://127.0.0.1:{LocalHome(home).state().get('endpoint', name)['_local']['current']['port']}"


def gateway_cpu(home: Path) -> float:
    """CPU seconds used so far by the runtime gateway's processes (keeper, master, workers)."""
    from smtrain.backends.local.jobs.processes import group_members
    from smtrain.backends.local.store.home import LocalHome

    pid = LocalHome(home).state().get("runtime", "gateway")["_local"]["pid"]
    return sum(sum(p.cpu_times()[:2]) for p in group_members(pid))


def direct(args: argparse.Namespace, api: str, container: str, body: Path, home: Path) -> None:
    rates: dict[str, list[float]] = {"runtime API": [], "container": []}
    cpu, requests = 0.0, 0
    for _ in range(args.direct):
        for label, url in (("runtime API", api), ("container", container)):
            before = gateway_cpu(home)
            figures = load(url, body, args.seconds, args.concurrency)
            rates[label].append(figures["requests"] / figures["seconds"])
            if label == "runtime API":
                cpu, requests = cpu + gateway_cpu(home) - before, requests + figures["requests"]
    runtime, own = statistics.median(rates["runtime API"]), statistics.median(rates["container"])
    print(f"\n{args.direct} interleaved rounds, median req/s: runtime API {runtime:.0f}, container {own:.0f}, "
          f"ratio {runtime / own:.2f}  (runtime {[round(r) for r in rates['runtime API']]}, "
          f"container {[round(r) for r in rates['container']]}); "
          f"gateway CPU {cpu / max(requests, 1) * 1000:.2f} ms per request")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0, help="SAGEMAKER_MODEL_SERVER_WORKERS (0: default)")
    parser.add_argument("--direct", type=int, default=0, help="interleaved rounds: runtime API vs the container")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smtrain-bench-") as scratch, \
            deployed(Path(scratch), args.workers) as (_, job, endpoint):
        work = Path(scratch)
        body = work / "row.csv"
        body.write_text(ROW)
        api = f"{endpoint.url}/endpoints/{endpoint.name}/invocations"
        figures = load(api, body, args.seconds, args.concurrency)
        if args.direct:
            direct(args, api, f"{container_url(work / 'home', endpoint.name)}/invocations", body, work / "home")
        local = in_process(Path(job.model_data.removeprefix("file://")))
    print(f"\nLocal endpoint, single-row CSV, concurrency {args.concurrency}, {args.seconds:.0f} s, "
          f"workers={args.workers or 'default'}")
    rate = figures["requests"] / figures["seconds"]
    print(f"  runtime API    {rate:8.0f} req/s   p50 {figures['p50'] * 1000:6.2f} ms   "
          f"p99 {figures['p99'] * 1000:6.2f} ms   (n={figures['requests']})")
    print(f"  in-process     {1 / statistics.mean(local):8.0f} calls/s p50 {percentile(local, 0.5) * 1000:6.2f} ms   "
          f"p99 {percentile(local, 0.99) * 1000:6.2f} ms   (n={len(local)}, one thread)")
    print(f"  p50 ratio (runtime API / in-process): {figures['p50'] / percentile(local, 0.5):.2f}x")


if __name__ == "__main__":
    main()

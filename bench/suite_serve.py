"""Serving rows of bench/run.py: the same fitted penguins pipeline behind three servers, loaded alike.

- smtrain's runtime API: POST /endpoints/{name}/invocations on the local runtime gateway;
- the model container directly: POST /invocations on the endpoint's server (its port read from the
  endpoint's record in the local store), skipping the gateway;
- MLflow's scoring server: the same pipeline (the job's model file, loaded by joblib) saved with
  ``mlflow.sklearn.save_model`` and served by ``mlflow models serve --env-manager local`` with as many
  workers as smtrain's container has (one per CPU), on 127.0.0.1.

Bodies: CSV with a header row and 1 or 1,000 rows of the test split (repeated). Each load is
bench/loadgen.py (its own process) for a fixed time at concurrency 1 and 8; the three servers are loaded
in turn, round after round; figures are the median throughput over rounds.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from aws_bench import BENCH, free_port
from peers import PeerUnavailable, ensure
from penguins_endpoint import deployed
from suite_cli import median
from table import Goal, Row, skipped

SAVE_MLFLOW_MODEL = """
import sys, joblib, mlflow.sklearn
mlflow.sklearn.save_model(joblib.load(sys.argv[1]), sys.argv[2])
"""


def bodies(test_csv: Path, work: Path) -> dict[str, Path]:
    header, *rows = test_csv.read_text().splitlines()
    out = {}
    for label, count in (("1 row", 1), ("1,000 rows", 1000)):
        path = work / f"body-{count}.csv"
        path.write_text("\n".join([header, *[rows[i % len(rows)] for i in range(count)]]) + "\n")
        out[label] = path
    return out


def container_port(home: Path, endpoint: str) -> int:
    db = sqlite3.connect(home / "state.db")
    try:
        row = db.execute("SELECT body FROM resources WHERE kind='endpoint' AND name=?", (endpoint,)).fetchone()
    finally:
        db.close()
    return int(json.loads(row[0])["_local"]["current"]["port"])


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"MLflow's server did not answer {url}") from None
            time.sleep(0.2)


def start_mlflow(model_data: Path, work: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    bin_dir = ensure("mlflow")
    extracted = work / "model"
    with tarfile.open(model_data) as archive:
        archive.extractall(extracted, filter="data")
    model_file = next(p for p in extracted.rglob("*") if p.suffix in (".joblib", ".pkl"))
    subprocess.run([str(bin_dir / "python"), "-c", SAVE_MLFLOW_MODEL, str(model_file), str(work / "mlflow-model")],
                   check=True, capture_output=True, timeout=300)
    port = free_port()
    # MLflow starts `uvicorn` by name, so the venv's bin/ goes first on PATH.
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"file://{work / 'mlruns'}",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = open(work / "mlflow.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen([str(bin_dir / "mlflow"), "models", "serve", "-m", str(work / "mlflow-model"),
                                "-h", "127.0.0.1", "-p", str(port), "--env-manager", "local", "-w", str(workers)],
                               stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/ping", process)
    except RuntimeError:
        stop(process)
        raise
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def load(url: str, body: Path, seconds: float, concurrency: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(BENCH / "loadgen.py"), url, str(body), "text/csv", str(seconds),
                          str(concurrency)], capture_output=True, text=True, check=True, timeout=seconds + 120)
    result = dict(json.loads(out.stdout))
    if result["errors"] or not result["requests"]:
        raise RuntimeError(f"{url}: {result['errors']} errors ({result['first_error']}), {result['requests']} ok")
    result["throughput"] = result["requests"] / result["seconds"]
    return result


def measure(targets: dict[str, str], payloads: dict[str, Path], runs: int, seconds: float) -> dict[tuple, list]:
    results: dict[tuple, list[dict[str, Any]]] = {}
    for _ in range(runs):
        for payload, body in payloads.items():
            for concurrency in (1, 8):
                for target, url in targets.items():
                    results.setdefault((payload, concurrency, target), []).append(load(url, body, seconds, concurrency))
    return results


def rows_from(results: dict[tuple, list], missing: dict[str, str]) -> list[Row]:
    def figure(key: tuple) -> float:
        return median([r["throughput"] for r in results[key]])

    def p50(key: tuple) -> str:
        return f"p50 {median([r['p50'] for r in results[key]]) * 1000:.1f} ms"

    peers = {"container": ("the container", "the container directly", 0.90),
             "mlflow": ("MLflow", "MLflow `models serve`", 3.0)}
    rows = []
    for payload, concurrency in (("1 row", 1), ("1 row", 8), ("1,000 rows", 1), ("1,000 rows", 8)):
        api = (payload, concurrency, "api")
        label = f"{payload} at concurrency {concurrency}, runtime API"
        for peer, (short, long, limit) in peers.items():
            if peer in missing:
                rows.append(skipped("serve", f"{label} vs {short}", missing[peer]))
                continue
            key = (payload, concurrency, peer)
            rows.append(Row("serve", f"{label} vs {short}", figure(api), long, figure(key), unit="req/s",
                            note=f"{p50(api)} vs {p50(key)}",
                            goal=Goal("ratio_min", limit) if concurrency == 8 else None))
    return rows


def serve(runs: int, quick: bool) -> list[Row]:
    seconds = 1.5 if quick else 4.0
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="smtrain-bench-serve-") as scratch, \
            deployed(Path(scratch)) as (_, job, endpoint):
        work = Path(scratch)
        home = work / "home"
        payloads = bodies(next((work / "data").rglob("X_test.csv")), work)
        mlflow, missing = None, {}
        try:
            targets = {"api": f"{endpoint.url}/endpoints/{endpoint.name}/invocations"}
            try:
                targets["container"] = f"http://127.0.0.1:{container_port(home, endpoint.name)}/invocations"
            except (OSError, KeyError, TypeError, sqlite3.Error) as exc:
                missing["container"] = f"the container's port is not in the endpoint's record ({exc!r})"
            try:
                mlflow, url = start_mlflow(Path(job.model_data.removeprefix("file://")), work, workers)
                targets["mlflow"] = f"{url}/invocations"
            except (PeerUnavailable, RuntimeError, subprocess.SubprocessError, StopIteration) as exc:
                missing["mlflow"] = f"MLflow unavailable: {exc}"
            results = measure(targets, payloads, runs, seconds)
        finally:
            if mlflow is not None:
                stop(mlflow)
    return rows_from(results, missing)

"""Where a request's CPU goes: the runtime API, the model container and MLflow's scoring server (issue 11).

    python bench/serve_cpu.py                  # ~3 min: 2 rounds of 5 s loads per server and body
    python bench/serve_cpu.py --rounds 3 --seconds 8

On two shared cores every server in ``bench/run.py``'s serving rows is CPU bound at concurrency 8, so
throughput follows CPU per request. This bench deploys the penguins model in a scratch home (as
``suite_serve.py`` does), starts MLflow's server on the same fitted pipeline with as many workers, then:

- loads each server at concurrency 8 (``loadgen.py``) and divides the CPU time its processes used
  (user + system, every process of its session: the gateway's keeper, master and workers; the
  container's; MLflow's) by the requests answered: ms of CPU per request, per server process group;
- times each stage in this process (``time.process_time``, median of rounds): the penguins script's
  ``input_fn``, its ``align`` (in ``predict_fn``), the pipeline's ``predict`` and ``output_fn``; and
  MLflow's parse (``pd.read_csv``) and the same ``predict`` on the frame it yields.

The difference between a server's CPU per request and its stages is its HTTP stack. Figures are
inflated by the machine's load (shown), as everything here shares the two cores; compare within a run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlparse

from common import REPO
from penguins_endpoint import deployed
from suite_serve import bodies, container_port, start_mlflow, stop

BENCH = Path(__file__).resolve().parent


def session_of(port: int) -> int:
    import psutil

    for connection in psutil.net_connections("tcp"):
        if connection.laddr and connection.laddr.port == port and connection.status == "LISTEN" and connection.pid:
            return os.getsid(connection.pid)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def session_cpu(sid: int) -> float:
    import psutil

    total = 0.0
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == sid:
                times = process.cpu_times()
                total += times.user + times.system
        except (psutil.Error, ProcessLookupError):
            continue
    return total


def load_cpu(url: str, body: Path, seconds: float, groups: dict[str, int]) -> dict[str, float]:
    """One load at concurrency 8: req/s and ms of CPU per request of each process group."""
    before = {name: session_cpu(sid) for name, sid in groups.items()}
    out = subprocess.run([sys.executable, str(BENCH / "loadgen.py"), url, str(body), "text/csv", str(seconds), "8"],
                         capture_output=True, text=True, check=True, timeout=seconds + 120)
    after = {name: session_cpu(sid) for name, sid in groups.items()}
    result = json.loads(out.stdout)
    if result["errors"] or not result["requests"]:
        raise RuntimeError(f"{url}: {result['errors']} errors ({result['first_error']})")
    figures = {name: 1000 * (after[name] - before[name]) / result["requests"] for name in groups}
    figures["req/s"] = result["requests"] / result["seconds"]
    return figures


def stage_times(model_data: Path, payloads: dict[str, Path], work: Path, rounds: int) -> dict[str, dict[str, float]]:
    """ms of CPU per call of each stage, in this process, for each body."""
    import pandas as pd

    sys.path.insert(0, str(REPO / "entry_points"))
    import penguins

    with tarfile.open(model_data) as archive:
        archive.extractall(work / "stages", filter="data")
    model = penguins.model_fn(str(work / "stages"))
    return {label: {name: median(cpu_per_call(stage) for _ in range(rounds))
                    for name, stage in stages_of(path.read_text(), model, penguins, pd).items()}
            for label, path in payloads.items()}


def stages_of(body: str, model: Any, penguins: Any, pd: Any) -> dict[str, Callable[[], Any]]:
    frame = penguins.input_fn(body, "text/csv")
    aligned = penguins.align(frame, model)
    prediction = model.predict(aligned)
    mlflow_frame = pd.read_csv(io.StringIO(body))
    return {
        "penguins input_fn": lambda: penguins.input_fn(body, "text/csv"),
        "penguins align (predict_fn)": lambda: penguins.align(frame, model),
        "pipeline predict (predict_fn)": lambda: model.predict(aligned),
        "penguins output_fn": lambda: penguins.output_fn(prediction, "application/json"),
        "MLflow parse: pd.read_csv": lambda: pd.read_csv(io.StringIO(body)),
        "MLflow: pipeline predict": lambda: model.predict(mlflow_frame),
    }


def cpu_per_call(stage: Callable[[], Any], calls: int = 50) -> float:
    stage()
    started = time.process_time()
    for _ in range(calls):
        stage()
    return 1000 * (time.process_time() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smtrain-bench-cpu-") as scratch, \
            deployed(Path(scratch)) as (_, job, endpoint):
        work = Path(scratch)
        home = work / "home"
        payloads = bodies(next((work / "data").rglob("X_test.csv")), work)
        model_data = Path(job.model_data.removeprefix("file://"))
        mlflow = None
        try:
            mlflow, mlflow_url = start_mlflow(model_data, work, os.cpu_count() or 1)
            api = f"{endpoint.url}/endpoints/{endpoint.name}/invocations"
            container = f"http://127.0.0.1:{container_port(home, endpoint.name)}/invocations"
            groups = {"gateway": session_of(urlparse(api).port or 0),
                      "container": session_of(urlparse(container).port or 0),
                      "mlflow": session_of(urlparse(mlflow_url).port or 0)}
            targets = {"runtime API": (api, ["gateway", "container"]), "container": (container, ["container"]),
                       "MLflow": (f"{mlflow_url}/invocations", ["mlflow"])}
            loads: dict[tuple[str, str], list[dict[str, float]]] = {}
            load_before = os.getloadavg()
            for _ in range(args.rounds):
                for label, body in payloads.items():
                    for target, (url, names) in targets.items():
                        figures = load_cpu(url, body, args.seconds, {name: groups[name] for name in names})
                        loads.setdefault((label, target), []).append(figures)
            stages = stage_times(model_data, payloads, work, max(3, args.rounds))
        finally:
            if mlflow is not None:
                stop(mlflow)
    report(loads, stages, load_before, os.getloadavg())


def report(loads: dict[tuple[str, str], list[dict[str, float]]], stages: dict[str, dict[str, float]],
           load_before: tuple[float, ...], load_after: tuple[float, ...]) -> None:
    print(f"load average (1, 5, 15 min): before {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {' '.join(f'{x:.2f}' for x in load_after)}")
    print("\n| body | server | req/s at c8 | CPU ms per request (by process group) |\n|---|---|---|---|")
    for (label, target), runs in loads.items():
        groups = [name for name in runs[0] if name != "req/s"]
        parts = " + ".join(f"{name} {median(r[name] for r in runs):.2f}" for name in groups)
        total = sum(median(r[name] for r in runs) for name in groups)
        print(f"| {label} | {target} | {median(r['req/s'] for r in runs):.0f} | {parts} = **{total:.2f}** |")
    print("\n| body | stage (in process) | CPU ms per call |\n|---|---|---|")
    for label, figures in stages.items():
        for name, value in figures.items():
            print(f"| {label} | {name} | {value:.2f} |")


if __name__ == "__main__":
    main()

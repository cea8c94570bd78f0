"""Every bench, one table: figures and ratios measured side by side in the same run (interleaved, medians).

    python bench/run.py [--quick] [--only NAME[,NAME]] [--runs N]

Benches: startup, fit, deploy, serve, ls, tune, transform, submit, sync; packing and frameworks show what deliberate
features cost. Each runs in its own process with a time
limit; one that fails, times out or lacks its peer gives skipped rows with the reason, never a crash
of the whole run. Peers are installed on first use into bench/.venv-* (see bench/peers.py).
Writes bench/results/results.md, results.json and chart.png (matplotlib, from the MLflow peer's venv
if smtrain's lacks it), with the machine's description and its load before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from table import Row, console, markdown, skipped

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


@dataclass(frozen=True)
class Bench:
    module: str
    function: str
    runs: int
    quick_runs: int
    timeout: float  # seconds, for the default runs; scaled with --runs
    figures: tuple[str, ...]  # row names shown when the whole bench is skipped


BENCHES = {
    "startup": Bench("suite_cli", "startup", 10, 3, 300, ("CLI start-up",)),
    "fit": Bench("suite_fit", "fit", 5, 2, 300, ("local fit, penguins", "local fit, 1,000 files")),
    "deploy": Bench("suite_fit", "deploy", 5, 2, 180, ("deploy to first prediction",)),
    "serve": Bench("suite_serve", "serve", 3, 1, 420, ("serving throughput",)),
    "ls": Bench("suite_cli", "ls", 10, 3, 240, ("`smtrain ls`",)),
    "tune": Bench("suite_tune", "tune", 3, 1, 900, ("local tuning, 20 trials at --max-parallel 2",)),
    "transform": Bench("suite_transform", "transform", 3, 1, 600, (
        "local transform throughput, 100,000 rows", "local transform job, 100,000 rows, submit to Completed")),
    "submit": Bench("suite_aws", "submit", 5, 2, 240, ("submit vs SDK v2",)),
    "sync": Bench("suite_aws", "sync", 5, 2, 420, ("first sync", "unchanged re-sync")),
    "packing": Bench("suite_costs", "packing", 10, 5, 180, ("packing safety checks",)),
    "frameworks": Bench("suite_costs", "frameworks", 5, 2, 1500, ("framework environments",)),
}


def run_worker(name: str, runs: int, quick: bool, out: Path) -> None:
    """Inside the bench's own process: run it and write its rows as JSON."""
    import importlib

    bench = BENCHES[name]
    function = getattr(importlib.import_module(bench.module), bench.function)
    rows = function(runs, quick)
    out.write_text(json.dumps([row.to_json() for row in rows]))


def run_bench(name: str, runs: int, quick: bool, timeout: float) -> list[Row]:
    bench = BENCHES[name]
    with tempfile.TemporaryDirectory(prefix="smtrain-bench-rows-") as scratch:
        out = Path(scratch) / "rows.json"
        log = Path(scratch) / "log.txt"
        with open(log, "wb") as handle:
            process = subprocess.Popen([sys.executable, __file__, "--worker", name, "--runs", str(runs),
                                        *(["--quick"] if quick else []), "--out", str(out)],
                                       stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
            reason = wait(process, timeout)
        text = log.read_text(errors="replace")
        if reason is None and out.exists():
            return [Row.from_json(row) for row in json.loads(out.read_text())]
        if reason is None:
            lines = [line for line in text.strip().splitlines() if line.strip()]
            reason = f"failed: {lines[-1] if lines else 'no output'}"
        print(text[-2000:], file=sys.stderr)
        return [skipped(name, figure, reason) for figure in bench.figures]


def wait(process: subprocess.Popen[bytes], timeout: float) -> str | None:
    """None when the process ended in time (whatever its status), else why it was stopped."""
    try:
        process.wait(timeout=timeout)
        return None
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGINT)  # lets its finally blocks tear servers down
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return f"timed out after {timeout:.0f} s"


def keep_bytecode() -> str:
    """Every program the benches time reads compiled bytecode, as an installed package does.

    pip compiles a package's modules when it installs it; an editable install or a peer's first import
    writes them on first use, unless ``PYTHONDONTWRITEBYTECODE`` is set (some sandboxes set it), and
    then every timed run would compile each module from source again. So the variable is dropped
    for every process the benches start, and smtrain's own package is compiled once, untimed.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run([sys.executable, "-m", "compileall", "-q", str(BENCH.parent / "smtrain")],
                          capture_output=True, text=True, timeout=300)
    return "bytecode: compiled once, untimed" if done.returncode == 0 else f"bytecode: not compiled: {done.stdout}"


def chart(rows: list[Row], path: Path) -> str:
    """Draws chart.png with the first interpreter that has matplotlib; returns a note on the outcome."""
    data = json.dumps([row.to_json() for row in rows])
    for python in (Path(sys.executable), BENCH / ".venv-mlflow" / "bin" / "python"):
        if not python.exists():
            continue
        done = subprocess.run([str(python), str(BENCH / "chart.py"), str(path)], input=data, text=True,
                              capture_output=True, timeout=120)
        if done.returncode == 0:
            return f"chart: {path}"
    return "chart: not drawn (matplotlib is in neither smtrain's venv nor bench/.venv-mlflow)"


def report(rows: list[Row], header: list[str], chart_note: str) -> str:
    return "\n".join(["# smtrain bench", "", *[f"- {line}" for line in header], "", markdown(rows),
                      "", chart_note, ""])


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller sizes: a smoke test")
    parser.add_argument("--only", default="", help=f"comma-separated benches: {','.join(BENCHES)}")
    parser.add_argument("--runs", type=int, default=0, help="runs per figure (default: each bench's own)")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHES)
    unknown = [name for name in names if name not in BENCHES]
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}: choose from {', '.join(BENCHES)}")
    args.names = names
    return args


def main(argv: list[str] | None = None) -> None:
    from machine import describe, loadavg
    from peers import package_versions

    args = parse(argv)
    if args.worker:
        run_worker(args.worker, args.runs, args.quick, Path(args.out))
        return
    started = datetime.now(timezone.utc)
    bytecode = keep_bytecode()
    load_before = loadavg()
    rows: list[Row] = []
    for name in args.names:
        bench = BENCHES[name]
        runs = args.runs or (bench.quick_runs if args.quick else bench.runs)
        timeout = bench.timeout * max(1.0, runs / bench.runs)
        print(f"[bench] {name}: {runs} runs (limit {timeout:.0f} s)", flush=True)
        began = time.monotonic()
        rows += run_bench(name, runs, args.quick, timeout)
        print(f"[bench] {name}: {time.monotonic() - began:.0f} s", flush=True)
    header = [
        f"command: `{' '.join(['python bench/run.py', *sys.argv[1:]])}`",
        f"started {started:%Y-%m-%d %H:%M} UTC, took {(datetime.now(timezone.utc) - started).total_seconds():.0f} s",
        *describe(sys.executable),
        *[f"peer {peer}: {package_versions(peer)}" for peer in ("sdk2", "sdk3", "mlflow")],
        f"load average (1, 5, 15 min): before {load_before}, after {loadavg()}",
        bytecode,
        "figures are medians of interleaved runs; ratio = smtrain / peer (times: below 1 is faster; "
        "req/s and rows/s: above 1 is faster)",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps({"header": header, "rows": [r.to_json() for r in rows]},
                                                     indent=1))
    chart_note = chart(rows, RESULTS / "chart.png")
    (RESULTS / "results.md").write_text(report(rows, header, chart_note))
    print("\n" + "\n".join(header) + "\n")
    print(console(rows))
    print(f"{chart_note}\ntable: {RESULTS / 'results.md'}")


if __name__ == "__main__":
    main()

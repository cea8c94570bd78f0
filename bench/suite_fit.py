"""Local fit and deploy-to-first-prediction rows of bench/run.py.

fit: the same entry_points/penguins.py on the same prepared data and hyperparameters, run directly
(`python penguins.py --train DIR --model-dir DIR ...`) and through `smtrain fit` (local backend), from
entry_points/ and from a source dir that also holds 1,000 small files (10 packages x 100 modules of
1 KiB), which smtrain packs and the direct run ignores.

deploy: wall time from starting `smtrain deploy JOB --json` until the first prediction through the
runtime API returns 200 (the deploy process plus one request); then, once the endpoint has been idle
for IDLE_SECONDS (no request since the first), the wall time of `smtrain teardown NAME` (the CLI, the
endpoint's and the gateway's servers stopped, the records removed).
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from common import REPO, bench_env, interleaved, time_command
from suite_cli import median, smtrain_program
from table import Goal, Row

ROW = "Adelie,Torgersen,39.1,18.7,181.0,3750.0"
IDLE_SECONDS = 1.0  # idle: no request for longer than a stopping server's linger (front.LINGER_SECONDS)


def many_files(target: Path, count: int = 1000) -> Path:
    target.mkdir(parents=True)
    shutil.copy(REPO / "entry_points" / "penguins.py", target / "penguins.py")
    for index in range(count):
        package = target / f"pkg{index // 100:02d}"
        package.mkdir(exist_ok=True)
        (package / f"mod{index % 100:03d}.py").write_text(f"# module {index}\n" + "x = 1\n" * 170)
    return target


def fit_argvs(smtrain: str, source: Path, train_dir: Path, hps: dict[str, str], model_dir: Path) -> tuple:
    direct = [sys.executable, str(source / "penguins.py"), "--train", str(train_dir), "--model-dir", str(model_dir)]
    for key, value in sorted(hps.items()):
        direct += [f"--{key}", str(value)]
    fit = [smtrain, "fit", "--entry-point", "penguins.py", "--source-dir", str(source),
           "--channel", f"train={train_dir}", *[f"--hp={k}={v}" for k, v in hps.items()]]
    return direct, fit


def fit(runs: int, quick: bool) -> list[Row]:
    from smtrain.project.data import prepare

    smtrain = smtrain_program()
    with tempfile.TemporaryDirectory(prefix="smtrain-bench-fit-") as scratch:
        work = Path(scratch)
        data = prepare(out_dir=work / "data")
        hps = {k: str(v) for k, v in data.hyperparameters().items()}
        env = bench_env(SMTRAIN_HOME=str(work / "home"))
        (work / "model").mkdir()
        candidates: dict[str, Callable[[], float]] = {}
        for key, source in (("penguins", REPO / "entry_points"), ("files", many_files(work / "src-1000"))):
            direct, smtrain_fit = fit_argvs(smtrain, source, data.train_dir, hps, work / "model")
            candidates[f"{key}-direct"] = lambda argv=direct: time_command(argv, env=env)  # type: ignore[misc]
            candidates[f"{key}-smtrain"] = lambda argv=smtrain_fit: time_command(argv, env=env, cwd=work)  # type: ignore[misc]
        times = interleaved(runs, **candidates)
    return [
        Row("fit", "local fit, penguins", median(times["penguins-smtrain"]), "the script run directly",
            median(times["penguins-direct"]), goal=Goal("ratio_max", 1.10)),
        Row("fit", "local fit, source dir of 1,000 small files", median(times["files-smtrain"]),
            "the script run directly", median(times["files-direct"]), goal=Goal("ratio_max", 1.20)),
    ]


def first_prediction(url: str, path: str, deadline: float) -> None:
    parsed = urlparse(url)
    while True:
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        try:
            connection.request("POST", path, body=ROW, headers={"Content-Type": "text/csv"})
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        if time.monotonic() > deadline:
            raise RuntimeError(f"no prediction from {url}{path} before the deadline")
        time.sleep(0.01)


def deploy(runs: int, quick: bool) -> list[Row]:
    import smtrain as api

    smtrain = smtrain_program()
    with tempfile.TemporaryDirectory(prefix="smtrain-bench-deploy-") as scratch:
        work = Path(scratch)
        home = work / "home"
        env = bench_env(SMTRAIN_HOME=str(home))
        session = api.Session(home=str(home), quiet=True)
        data = session.prepare(out_dir=work / "data", progress=False)
        job = session.fit("penguins.py", source_dir=REPO / "entry_points", channels={"train": data.train_uri},
                          hyperparameters=data.hyperparameters())
        counter = iter(range(10**6))
        teardowns: list[float] = []

        def once() -> float:
            name = f"bench-deploy-{next(counter)}"
            start = time.perf_counter()
            out = subprocess.run([smtrain, "deploy", job.name, "--endpoint-name", name, "--json"], env=env,
                                 cwd=work, capture_output=True, text=True, check=True, timeout=120)
            try:
                first_prediction(json.loads(out.stdout)["Url"], f"/endpoints/{name}/invocations",
                                 time.monotonic() + 60)
                took = time.perf_counter() - start
                time.sleep(IDLE_SECONDS)
                teardowns.append(time_command([smtrain, "teardown", name], env=env, cwd=work))
                return took
            finally:
                subprocess.run([smtrain, "teardown", name], env=env, cwd=work, capture_output=True, timeout=120)

        try:
            times = interleaved(runs, deploy=once)
        finally:
            subprocess.run([smtrain, "teardown", "--all"], env=env, cwd=work, capture_output=True, timeout=120)
    return [Row("deploy", "deploy to first prediction, penguins (`smtrain deploy` + 1 request)",
                median(times["deploy"]), goal=Goal("value_max", 1.0), samples=times),
            Row("deploy", f"teardown of an idle endpoint (`smtrain teardown NAME`, idle {IDLE_SECONDS:g} s)",
                median(teardowns), goal=Goal("value_max", 0.5), samples={"teardown": teardowns},
                note="stops the endpoint's server and the gateway's")]

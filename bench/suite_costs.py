"""What deliberate features cost, as rows of bench/run.py, so a regression in them shows.

packing: the source dir of 1,000 small files (suite_fit.many_files) packed by `pack_source` (the link policy,
O_NOFOLLOW opens, .gitignore/.smtrainignore rules, .env exclusion, the atomic write) against a plain
`tarfile` of the same folder with the same gzip level, in this process, interleaved; and the choosing alone
(`scan_source`) against a bare `os.walk`.

frameworks: local `smtrain fit` of penguins with the framework environment chosen as usual (the fast path:
this venv's scikit-learn matches the default framework version, checked by probing its library versions)
against `--framework-version current` (no check); and with a built environment (`--framework-version
1.4-2`, scikit-learn 1.4) against the script run directly by that environment's Python. The environment is
built once into bench/.venv-frameworks (gitignored; minutes, from PyPI) and reused by later runs; its build
time is a row of its own when this run built it.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import REPO, bench_env, interleaved, time_command
from suite_cli import median, smtrain_program
from suite_fit import fit_argvs, many_files
from table import Row, skipped

BENCH = Path(__file__).resolve().parent
BUILT_VERSION = "1.4-2"  # an image whose scikit-learn differs from smtrain's venv
REUSE_SECONDS = 5.0  # choosing a built environment takes milliseconds; longer means this run built it


def timed(action: Callable[[], object]) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        action()
        return time.perf_counter() - start
    return run


def plain_tar(folder: Path, dest: Path) -> None:
    with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
        tar.add(folder, arcname=".")


def packing(runs: int, quick: bool) -> list[Row]:
    from smtrain.files.packing import scan_source
    from smtrain.files.tarballs import pack_source

    with tempfile.TemporaryDirectory(prefix="smtrain-bench-pack-") as scratch:
        work = Path(scratch)
        source = many_files(work / "src")
        (source / ".gitignore").write_text("*.log\n")
        (source / ".env").write_text("SECRET=1\n")
        times = interleaved(
            max(runs, 5),
            pack=timed(lambda: pack_source(source, "penguins.py", work / "smtrain.tar.gz")),
            tar=timed(lambda: plain_tar(source, work / "plain.tar.gz")),
            scan=timed(lambda: scan_source(source)),
            walk=timed(lambda: [files for _, _, files in os.walk(source)]),
        )
    note = "the link policy, O_NOFOLLOW opens, ignore rules, .env exclusion, atomic write"
    return [
        Row("packing", "packing 1,000 small files: `pack_source` (with the safety checks)", median(times["pack"]),
            "plain `tarfile` of the same folder, same gzip level", median(times["tar"]), note=note),
        Row("packing", "choosing what to pack from 1,000 files: `scan_source`", median(times["scan"]),
            "bare `os.walk`", median(times["walk"])),
    ]


def frameworks(runs: int, quick: bool, *, cache: Path = BENCH / ".venv-frameworks") -> list[Row]:
    from smtrain.backends.local.environments import frameworks as envs
    from smtrain.project.data import prepare

    smtrain = smtrain_program()
    with tempfile.TemporaryDirectory(prefix="smtrain-bench-frameworks-") as scratch:
        work = Path(scratch)
        data = prepare(out_dir=work / "data")
        hps = {k: str(v) for k, v in data.hyperparameters().items()}
        (work / "model").mkdir()
        env = bench_env(SMTRAIN_HOME=str(work / "home"), **{envs.CACHE_VARIABLE: str(cache)})
        direct, fit = fit_argvs(smtrain, REPO / "entry_points", data.train_dir, hps, work / "model")
        candidates: dict[str, Callable[[], float]] = {
            "fast path": lambda: time_command(fit, env=env, cwd=work),
            "current": lambda: time_command([*fit, "--framework-version", "current"], env=env, cwd=work),
        }
        built = build_environment(cache, work)
        if isinstance(built, tuple):
            python, _ = built
            candidates["built"] = lambda: time_command([*fit, "--framework-version", BUILT_VERSION], env=env,
                                                       cwd=work)
            candidates["built-direct"] = lambda: time_command([python, *direct[1:]], env=env)
        times = interleaved(runs, **candidates)
    rows = [Row("frameworks", f"local fit, penguins, framework {envs.default_version()} matched (fast path)",
                median(times["fast path"]), "`--framework-version current` (no check)", median(times["current"]))]
    if not isinstance(built, tuple):
        return [*rows, skipped("frameworks", f"local fit, penguins, built {BUILT_VERSION} environment", built)]
    rows.append(Row("frameworks", f"local fit, penguins, built {BUILT_VERSION} environment (reused)",
                    median(times["built"]), "the script run directly by that environment's Python",
                    median(times["built-direct"])))
    if built[1] is not None:
        rows.append(Row("frameworks", f"first build of the {BUILT_VERSION} environment (pip from PyPI)", built[1],
                        note="once per framework version and Python; this run built it"))
    return rows


def build_environment(cache: Path, work: Path) -> tuple[str, float | None] | str:
    """(the environment's Python, its build time or None if it was there) or why it could not be had."""
    import subprocess

    from smtrain.backends.local.environments import frameworks as envs

    os.environ[envs.CACHE_VARIABLE] = str(cache)
    code = work / "code"
    code.mkdir(exist_ok=True)
    log = work / "build.log"

    def run(command: object, cwd: Path) -> int:
        with open(log, "ab") as out:
            return subprocess.call(list(command), cwd=cwd, stdout=out, stderr=subprocess.STDOUT)  # type: ignore[call-overload]

    start = time.perf_counter()
    try:
        environment = envs.environment_for(BUILT_VERSION, code, run, say=lambda message: print(" ", message))
    except Exception as exc:  # no PyPI, no wheel for this Python, ...
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        return f"could not build the {BUILT_VERSION} environment: {exc} {' '.join(tail)}".strip()
    seconds = time.perf_counter() - start
    if environment.venv is None:
        return f"framework {BUILT_VERSION} needs no environment here (this venv matches it)"
    return environment.python, seconds if seconds > REUSE_SECONDS else None

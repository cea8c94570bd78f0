"""Submit overhead: `smtrain fit --backend sagemaker --no-wait` as a ratio to SDK v2's
`SKLearn(...).fit(wait=False)` submitting the same job, both against one local moto server.

    bash bench/setup_baselines.sh          # once: SDK v2 + awscli in bench/.venv-sdk2
    python bench/submit.py [--runs 10]

Both sides run as the process a user starts (the `smtrain` console script; a
small script, bench/sdk2_fit.py, under the SDK-v2 venv's interpreter), so the
time is what a user waits: interpreter start, imports, packing and uploading
the source dir, CreateTrainingJob. Same entry point (entry_points/penguins.py),
same source dir, same S3 train channel (written once by `smtrain prepare`),
same hyperparameters, same framework version (1.4-2, the newest SDK v2 has a
training image for), ml.m5.large. After the runs the bench checks that the
two tools sent the same CreateTrainingJob request (apart from names and S3
paths) and counts the HTTP requests one submit of each makes.

The last two rows are diagnostic: the same smtrain submit with an empty
$XDG_CACHE_HOME before each run (a first run, if smtrain caches image URIs
there), and with the image URI given (`--image-uri`), which skips smtrain's
image lookup altogether. Every smtrain run gets $XDG_CACHE_HOME in the
scratch dir, never the user's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aws_bench import (
    BENCH,
    ROLE,
    aws_env,
    baseline_executable,
    client,
    create_account,
    moto_server,
    smtrain_executable,
)
from common import REPO, interleaved, report, time_command

FRAMEWORK_VERSION = "1.4-2"
ENTRY_POINT = "penguins.py"
SOURCE_DIR = REPO / "entry_points"
COMPARED = ("AlgorithmSpecification", "InputDataConfig", "ResourceConfig", "StoppingCondition", "RoleArn")
PER_JOB_HYPERPARAMETERS = ("sagemaker_submit_directory", "sagemaker_job_name")


def prepare_channel(smtrain: Path, env: dict[str, str], workdir: Path) -> dict[str, Any]:
    """`smtrain prepare` as a user runs it: the penguins CSVs, synced to the default bucket."""
    out = subprocess.run([str(smtrain), "prepare", "--backend", "sagemaker", "--role", ROLE, "--json",
                          "--out", str(workdir / "data" / "penguins")],
                         env=env, cwd=workdir, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout))


def smtrain_argv(smtrain: Path, train: str, hyperparameters: dict[str, Any], job_name: str) -> list[str]:
    argv = [str(smtrain), "fit", "--backend", "sagemaker", "--role", ROLE, "--no-wait",
            "--entry-point", ENTRY_POINT, "--source-dir", str(SOURCE_DIR), "--channel", f"train={train}",
            "--framework-version", FRAMEWORK_VERSION, "--job-name", job_name]
    for key, value in hyperparameters.items():
        argv += ["--hp", f"{key}={value}"]
    return argv


def sdk2_argv(python: Path, train: str, hyperparameters: dict[str, Any], job_name: str) -> list[str]:
    job = {"entry_point": ENTRY_POINT, "source_dir": str(SOURCE_DIR), "role": ROLE,
           "framework_version": FRAMEWORK_VERSION, "hyperparameters": hyperparameters, "train": train,
           "job_name": job_name}
    return [str(python), str(BENCH / "sdk2_fit.py"), json.dumps(job)]


def comparable(description: dict[str, Any]) -> dict[str, Any]:
    hps = {k: v for k, v in description["HyperParameters"].items() if k not in PER_JOB_HYPERPARAMETERS}
    return {"HyperParameters": hps, **{key: description.get(key) for key in COMPARED}}


def check_same_request(url: str, smtrain_job: str, sdk_job: str) -> None:
    sagemaker = client(url, "sagemaker")
    ours = comparable(sagemaker.describe_training_job(TrainingJobName=smtrain_job))
    theirs = comparable(sagemaker.describe_training_job(TrainingJobName=sdk_job))
    differences = [key for key in ours if ours[key] != theirs[key]]
    if differences:
        print(f"\nWARNING: the two CreateTrainingJob requests differ in {', '.join(differences)}:")
        for key in differences:
            print(f"  smtrain: {key} = {json.dumps(ours[key], default=str)}")
            print(f"  sdk v2:  {key} = {json.dumps(theirs[key], default=str)}")
    else:
        print(f"\nsame job: {smtrain_job} and {sdk_job} agree on image, hyperparameters (but the per-job "
              f"submit directory and job name), input channel, resources, stopping condition and role")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    measure(parser.parse_args().runs)


def measure(runs: int, diagnostics: bool = True) -> dict[str, list[float]]:
    """Runs, prints and returns the timings of each candidate."""
    smtrain = smtrain_executable()
    python = baseline_executable("python")
    counter = itertools.count()

    with tempfile.TemporaryDirectory(prefix="smtrain-bench-submit-") as scratch:
        workdir = Path(scratch)
        with moto_server(workdir) as server:
            # smtrain may cache image URIs under $XDG_CACHE_HOME: keep it in the scratch dir, not the user's home.
            cache = workdir / "cache"
            env = aws_env(server.url, XDG_CACHE_HOME=str(cache))
            create_account(server.url)
            data = prepare_channel(smtrain, env, workdir)
            train, hps = data["train"], data["hyperparameters"]
            jobs: dict[str, list[str]] = {"smtrain": [], "sdk": []}

            def run(kind: str, make_argv: Callable[[str], list[str]], *, cold: bool = False) -> Callable[[], float]:
                def once() -> float:
                    if cold:
                        shutil.rmtree(cache, ignore_errors=True)
                    name = f"{kind}-{next(counter)}"
                    jobs["sdk" if kind == "sdk2" else "smtrain"].append(name)
                    return time_command(make_argv(name), env=env, cwd=workdir)
                return once

            # One untimed submit: warms the page cache, and gives the image URI for the diagnostic row.
            warmup = f"smtrain-warmup-{next(counter)}"
            subprocess.run(smtrain_argv(smtrain, train, hps, warmup), env=env, cwd=workdir, check=True,
                           capture_output=True)
            described = client(server.url, "sagemaker").describe_training_job(TrainingJobName=warmup)
            image = described["AlgorithmSpecification"]["TrainingImage"]
            subprocess.run(sdk2_argv(python, train, hps, f"sdk2-warmup-{next(counter)}"), env=env, cwd=workdir,
                           check=True, capture_output=True)
            candidates = {
                "sdk v2 SKLearn.fit(wait=False)": run("sdk2", lambda n: sdk2_argv(python, train, hps, n)),
                "smtrain fit --no-wait": run("smtrain", lambda n: smtrain_argv(smtrain, train, hps, n)),
            }
            if diagnostics:
                candidates["  ... empty $XDG_CACHE_HOME"] = run(
                    "smtrain-cold", lambda n: smtrain_argv(smtrain, train, hps, n), cold=True)
                candidates["  ... with --image-uri"] = run(
                    "smtrain-image", lambda n: [*smtrain_argv(smtrain, train, hps, n), "--image-uri", image])
            times = interleaved(runs, **candidates)
            report(f"Submit a training job to moto on loopback (framework {FRAMEWORK_VERSION}, "
                   "wall time of the process)", times, baseline="sdk v2 SKLearn.fit(wait=False)")
            check_same_request(server.url, jobs["smtrain"][0], jobs["sdk"][0])

            print("\nHTTP requests one submit makes (moto's request log):")
            for label, argv in (
                ("sdk v2 SKLearn.fit(wait=False)", sdk2_argv(python, train, hps, f"sdk2-count-{next(counter)}")),
                ("smtrain fit --no-wait", smtrain_argv(smtrain, train, hps, f"smtrain-count-{next(counter)}")),
            ):
                before = server.requests_logged()
                subprocess.run(argv, env=env, cwd=workdir, check=True, capture_output=True)
                time.sleep(0.3)  # the server logs a request after answering it
                print(f"  {label:<32} {server.requests_logged() - before}")
    print(f"\nversions: {versions(python, 'sagemaker', 'boto3', 'botocore')} (baseline venv); "
          f"{versions(Path(sys.executable), 'smtrain', 'boto3', 'botocore', 'sagemaker-core', 'moto')} (smtrain venv)")
    return times


def versions(python: Path, *packages: str) -> str:
    code = ("import sys; from importlib.metadata import version; "
            "print(' '.join(f'{p}=={version(p)}' for p in sys.argv[1:]))")
    return subprocess.run([str(python), "-c", code, *packages], capture_output=True, text=True,
                          check=True).stdout.strip()


if __name__ == "__main__":
    main()

"""Dataset sync to S3: smtrain's incremental sync (what `smtrain prepare` runs) against `aws s3 sync`,
both uploading the same folder of random bytes to one local moto server.

    bash bench/setup_baselines.sh          # once: SDK v2 + awscli in bench/.venv-sdk2
    python bench/sync.py [--runs 5] [--files 20] [--file-mib 10]

(b) first sync: each run uploads the whole folder (20 x 10 MiB by default) to a
    fresh prefix; wall time of the process, MiB/s, ratio to `aws s3 sync`.
    After each run the bench checks the objects landed (count and bytes) and
    deletes them, untimed.
(a) unchanged re-sync: the folder is synced once, untimed, then synced again
    N times; smtrain must report 0 bytes uploaded, `aws s3 sync` must print no
    `upload:` line, and no object's LastModified/ETag may change. `aws s3 sync`
    is the reference row, but note it compares size and modification time only,
    while smtrain compares content: each local file's MD5 (remembered from the
    first sync, keyed by its stat data, see smtrain/files/digests.py) with the listed
    ETag, or its SHA-256 with the one stored in the object's metadata.
    The first syncs start with an empty digest cache each ($XDG_CACHE_HOME),
    the re-syncs share one.

smtrain runs as bench/sync_once.py (the backend's ``sync``, as `smtrain prepare`
calls it) under smtrain's interpreter; `aws` is awscli from bench/.venv-sdk2.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aws_bench import BENCH, BUCKET, aws_env, baseline_executable, client, create_account, delete_prefix, moto_server
from common import interleaved, report

from smtrain.core.compat import file_sha256

MIB = 1024 * 1024


def make_dataset(folder: Path, files: int, file_mib: int) -> int:
    folder.mkdir(parents=True)
    for index in range(files):
        with open(folder / f"part-{index:03d}.bin", "wb") as handle:
            for _ in range(file_mib):
                handle.write(os.urandom(MIB))
    return files * file_mib * MIB


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout


def objects(url: str, prefix: str) -> dict[str, tuple[int, str, Any]]:
    """key -> (size, ETag, LastModified) under ``prefix``."""
    found = {}
    for page in client(url, "s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = (item["Size"], item["ETag"], item["LastModified"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--file-mib", type=int, default=10)
    measure(parser.parse_args())


def measure(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:  # noqa: C901 - one linear script
    """Runs, prints and returns the timings: {"first": times, "resync": times}."""
    aws = baseline_executable("aws")
    smtrain_sync = [sys.executable, str(BENCH / "sync_once.py")]

    with tempfile.TemporaryDirectory(prefix="smtrain-bench-sync-") as scratch:
        workdir = Path(scratch)
        data = workdir / "dataset"
        total = make_dataset(data, args.files, args.file_mib)
        mib = total / MIB
        print(f"dataset: {args.files} files x {args.file_mib} MiB of random bytes = {mib:.0f} MiB ({total:,} bytes)")
        start = time.perf_counter()
        for path in sorted(data.iterdir()):
            with open(path, "rb") as handle:
                file_sha256(handle)
        print(f"SHA-256 of the whole dataset in one process (page cache warm): "
              f"{(time.perf_counter() - start) * 1000:.0f} ms")

        with moto_server(workdir) as server:
            env = aws_env(server.url, XDG_CACHE_HOME=str(workdir / "cache"))  # smtrain's digests of the re-syncs
            create_account(server.url)
            rounds = iter(range(10**6))

            def first_sync(tool: str, argv: Callable[[str], list[str]]) -> Callable[[], float]:
                def once() -> float:
                    run = next(rounds)
                    prefix = f"first/{tool}-{run}/"
                    cold = {**env, "XDG_CACHE_HOME": str(workdir / f"cache-first-{run}")}  # nothing remembered
                    seconds, stdout = timed(argv(f"s3://{BUCKET}/{prefix}"), cold, workdir)
                    landed = objects(server.url, prefix)
                    sent = sum(size for size, _, _ in landed.values())
                    if (len(landed), sent) != (args.files, total):
                        sys.exit(f"{tool}: {len(landed)} objects, {sent} bytes under {prefix}; "
                                 f"expected {args.files}, {total}")
                    if tool == "smtrain" and json.loads(stdout)["uploaded_bytes"] != total:
                        sys.exit(f"smtrain reported {stdout.strip()}")
                    delete_prefix(server.url, BUCKET, prefix)
                    return seconds
                return once

            first_times = times = interleaved(
                args.runs,
                **{
                    "aws s3 sync": first_sync("aws", lambda uri: [str(aws), "s3", "sync", str(data), uri,
                                                                  "--no-progress"]),
                    "smtrain sync": first_sync("smtrain", lambda uri: [*smtrain_sync, str(data), uri]),
                },
            )
            report(f"(b) first sync of {mib:.0f} MiB to a fresh prefix (wall time of the process)",
                   times, baseline="aws s3 sync")
            for name, values in times.items():
                print(f"  {name:<28} {mib / statistics.median(values):6.1f} MiB/s (median run)")

            # (a) unchanged re-sync
            targets = {"aws s3 sync": f"s3://{BUCKET}/resync/aws/", "smtrain sync": f"s3://{BUCKET}/resync/smtrain/"}
            timed([str(aws), "s3", "sync", str(data), targets["aws s3 sync"], "--no-progress"], env, workdir)
            _, first = timed([*smtrain_sync, str(data), targets["smtrain sync"]], env, workdir)
            if json.loads(first)["uploaded_bytes"] != total:
                sys.exit(f"smtrain's initial sync reported {first.strip()}")
            before = objects(server.url, "resync/")
            in_sync: list[float] = []
            uploaded: list[int] = []

            def resync_aws() -> float:
                seconds, stdout = timed([str(aws), "s3", "sync", str(data), targets["aws s3 sync"], "--no-progress"],
                                        env, workdir)
                if "upload:" in stdout:
                    sys.exit(f"aws s3 sync uploaded again:\n{stdout}")
                return seconds

            def resync_smtrain() -> float:
                seconds, stdout = timed([*smtrain_sync, str(data), targets["smtrain sync"]], env, workdir)
                result = json.loads(stdout)
                uploaded.append(result["uploaded_bytes"])
                in_sync.append(result["seconds_in_sync"])
                return seconds

            times = interleaved(args.runs, **{"aws s3 sync": resync_aws, "smtrain sync": resync_smtrain})
            report(f"(a) unchanged re-sync of {mib:.0f} MiB (wall time of the process)", times,
                   baseline="aws s3 sync")
            after = objects(server.url, "resync/")
            print(f"  smtrain bytes uploaded per re-sync: {sorted(set(uploaded))} "
                  f"(in the sync call: median {statistics.median(in_sync) * 1000:.0f} ms)")
            print(f"  objects rewritten by the re-syncs (LastModified or ETag changed): "
                  f"{sum(before[key] != after.get(key) for key in before)} of {len(before)}")
            delete_prefix(server.url, BUCKET, "resync/")

            print("\nHTTP requests one sync makes (moto's request log; one untimed run each):")
            for label, prefix, argv in (
                ("aws s3 sync, first", "count/aws/", [str(aws), "s3", "sync", str(data), "", "--no-progress"]),
                ("smtrain sync, first", "count/smtrain/", [*smtrain_sync, str(data), ""]),
                ("aws s3 sync, unchanged", "count/aws/", [str(aws), "s3", "sync", str(data), "", "--no-progress"]),
                ("smtrain sync, unchanged", "count/smtrain/", [*smtrain_sync, str(data), ""]),
            ):
                argv[argv.index("")] = f"s3://{BUCKET}/{prefix}"
                start = server.requests_logged()
                timed(argv, env, workdir)
                time.sleep(0.3)  # the server logs a request after answering it
                print(f"  {label:<28} {server.requests_logged() - start}")
            delete_prefix(server.url, BUCKET, "count/")
    return {"first": first_times, "resync": times}


if __name__ == "__main__":
    main()

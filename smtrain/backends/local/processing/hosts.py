"""A local processing job on N instances: N processes, algo-1 ... algo-N, each with its own ``/opt/ml``.

As for training (:mod:`smtrain.backends.local.jobs.hosts`, whose split and fan-out this reuses):
SageMaker runs ``ClusterConfig.InstanceCount`` N containers ``algo-1`` to ``algo-N``; each reads its
own ``/opt/ml/config/resourceconfig.json`` (``current_host``, the same ``hosts``); an input whose
``S3DataDistributionType`` is ``ShardedByS3Key`` gives each instance its share of the objects ("the data
is sharded by S3 key, downloading one shard of data to each processing container", API reference,
ProcessingS3Input), a ``FullyReplicated`` one all of them; and every instance uploads each output's
``LocalPath`` to the same ``S3Uri`` at the end (EndOfJob), so a later upload of the same key replaces an
earlier one. Locally algo-1's tree is the job's folder and algo-*i*'s ``<job folder>/hosts/algo-i``;
the outputs are merged into algo-1's in host order, a later host's file winning, then uploaded once.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from smtrain.backends.local.jobs import sandbox
from smtrain.backends.local.jobs.hosts import (
    HOSTS_FOLDER,
    SHARDED,
    channel_keys,
    copy_files,
    fan_out_argv,
    host_names,
    keep_only,
    shard,
)
from smtrain.backends.local.processing import contract

Say = Callable[[str], None]


def instance_count(record: Mapping[str, Any]) -> int:
    cluster = record.get("ProcessingResources", {}).get("ClusterConfig", {})
    return max(1, int(cluster.get("InstanceCount", 1) or 1))


def host_trees(job_dir: Path, count: int) -> list[Path]:
    """Each host's ``/opt/ml`` tree; algo-1's is the job's own folder."""
    return [job_dir, *(job_dir / HOSTS_FOLDER / name for name in host_names(count)[1:])]


def prepare_hosts(record: Mapping[str, Any], job_dir: Path, *, say: Say) -> None:
    """After algo-1's tree is laid out (and its code unpacked): the other hosts' trees, every host's
    resourceconfig.json, each sharded input's share."""
    count = instance_count(record)
    names, trees = host_names(count), host_trees(job_dir, count)
    instance_type = record["ProcessingResources"]["ClusterConfig"].get("InstanceType", "local")
    inputs = [item["S3Input"] for item in record.get("ProcessingInputs", [])]
    keys = {source["LocalPath"]: channel_keys(contract.in_job(source["LocalPath"], job_dir)) for source in inputs}
    for index, tree in enumerate(trees[1:], start=1):
        shutil.copytree(job_dir / "config", tree / "config", dirs_exist_ok=True)
        (tree / "output").mkdir(parents=True, exist_ok=True)
        for source in inputs:
            local = source["LocalPath"]
            chosen = shard(keys[local], index, count) if source.get("S3DataDistributionType") == SHARDED \
                else keys[local]
            copy_files(contract.in_job(local, job_dir), contract.in_job(local, tree), chosen)
        for output in _outputs(record):
            contract.in_job(output, tree).mkdir(parents=True, exist_ok=True)
    for source in inputs:
        if source.get("S3DataDistributionType") == SHARDED:
            keep_only(contract.in_job(source["LocalPath"], job_dir), set(shard(keys[source["LocalPath"]], 0, count)))
            say(f"input {source['LocalPath']} ({SHARDED}): {len(keys[source['LocalPath']])} file(s) over {count} "
                "hosts, " + ", ".join(f"{host} {len(shard(keys[source['LocalPath']], i, count))}"
                                      for i, host in enumerate(names)))
    for name, tree in zip(names, trees, strict=True):
        (tree / "config" / "resourceconfig.json").write_text(
            json.dumps(contract.resource_config(instance_type, host=name, hosts=names)))
    say(f"{count} instances: {', '.join(names)} (each a process; algo-i's tree is {job_dir / HOSTS_FOLDER}/algo-i)")


def fan_out_command(record: Mapping[str, Any], job_dir: Path, command: Sequence[str], cwd: Path, *, log: Path,
                    say: Say) -> list[str]:
    """Every host's run of ``command`` (its paths in algo-1's tree moved to the host's), behind its own
    namespace, through :mod:`smtrain.backends.local.jobs.fan_out`."""
    hosts = []
    for name, tree in zip(host_names(instance_count(record)), host_trees(job_dir, instance_count(record)),
                          strict=True):
        argv = [_rebased(word, job_dir, tree) for word in command]
        hosts.append({"name": name, "argv": sandbox.job_command(argv, tree, say=say if tree == job_dir else None),
                      "cwd": _rebased(str(cwd), job_dir, tree), "env": {}, "unset": [],
                      "failure": str(tree / "output" / "failure")})
    return fan_out_argv(hosts, job_dir, log=log)


def merge_outputs(record: Mapping[str, Any], job_dir: Path) -> None:
    """Each host's output folders into algo-1's, in host order, a later host's file winning."""
    for tree in host_trees(job_dir, instance_count(record))[1:]:
        for output in _outputs(record):
            source = contract.in_job(output, tree)
            if source.is_dir():
                shutil.copytree(source, contract.in_job(output, job_dir), dirs_exist_ok=True, symlinks=True)


def _outputs(record: Mapping[str, Any]) -> list[str]:
    return [item["S3Output"]["LocalPath"] for item in record.get("ProcessingOutputConfig", {}).get("Outputs", [])]


def _rebased(word: str, job_dir: Path, tree: Path) -> str:
    return str(tree) + word[len(str(job_dir)):] if word == str(job_dir) or word.startswith(f"{job_dir}/") else word

"""A local job on N instances: N processes, algo-1 ... algo-N, each with a tree of its own.

SageMaker runs a job with ``InstanceCount`` N on N containers named ``algo-1``
to ``algo-N``; each reads its own ``resourceconfig.json`` (``current_host``, and
the same ``hosts`` list), and for a channel whose ``S3DataDistributionType`` is
``ShardedByS3Key`` "each instance gets approximately 1/n of the number of S3
objects" (API reference, ``S3DataSource``). Locally:

- algo-1's tree is the job's folder, as for one instance; algo-*i*'s is
  ``<job folder>/hosts/algo-i`` (code, config and data copied from algo-1's);
- a sharded channel's files are taken in S3 key order (the relative paths,
  compared as UTF-8 bytes, as ``ListObjectsV2`` lists keys) and dealt round-robin:
  file *k* goes to host ``k mod N``; AWS does not publish its exact split, only
  the 1/n share, and this one keeps every file on exactly one host;
- all N run at once, each at ``/opt/ml`` in its own namespace where there is one
  (:mod:`.sandbox`), through :mod:`.fan_out`: algo-1's output is the job's output
  (its metrics are the job's metrics, as SageMaker reads them from algo-1), the
  others' goes to the job log prefixed ``[algo-i]``; the job fails if any host
  fails, and the others are then stopped;
- the outputs kept are those of every host: each host's ``model/`` and
  ``output/data/`` merged into algo-1's in host order, a later host's file
  replacing an earlier one of the same name, as the SDK's local mode does it
  ("As the official SageMaker Training Service, it will override duplicate files
  if multiple containers have the same file names", ``_SageMakerContainer.retrieve_artifacts``
  in sagemaker/local/image.py, SDK v2).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from smtrain.backends.local.jobs import fan_out, sandbox
from smtrain.backends.local.store.records import write_private
from smtrain.backends.local.training.container_env import ContainerPaths, resource_config

HOST_PREFIX = "algo-"
HOSTS_FOLDER = "hosts"
SPEC_FILE = "launch.json"
SHARDED = "ShardedByS3Key"
Say = Callable[[str], None]


def host_names(count: int) -> list[str]:
    return [f"{HOST_PREFIX}{i}" for i in range(1, count + 1)]


def instance_count(record: Mapping[str, Any]) -> int:
    return max(1, int(record.get("ResourceConfig", {}).get("InstanceCount", 1) or 1))


def host_trees(paths: ContainerPaths, count: int) -> list[ContainerPaths]:
    """Each host's ``/opt/ml`` tree; algo-1's is the job's own."""
    return [paths, *(ContainerPaths(paths.base / HOSTS_FOLDER / name) for name in host_names(count)[1:])]


def host_resource_config(instance_type: str, host: str, hosts: Sequence[str]) -> dict[str, Any]:
    config = resource_config(instance_type)
    config["current_host"] = host
    config["hosts"] = list(hosts)
    for group in config["instance_groups"]:
        group["hosts"] = list(hosts)
    return config


def channel_keys(folder: Path) -> list[str]:
    """The channel's files as S3 keys under its prefix: relative paths, in ListObjectsV2 order."""
    keys = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    return sorted(keys, key=lambda key: key.encode("utf-8"))


def shard(keys: Sequence[str], index: int, count: int) -> list[str]:
    """Host ``index`` (0-based) of ``count``: every ``count``-th key from its own."""
    return list(keys[index::count])


def prepare_hosts(record: Mapping[str, Any], paths: ContainerPaths, *, say: Say) -> None:
    """After algo-1's tree is laid out: the other hosts' trees, every host's resourceconfig.json, the shards."""
    count = instance_count(record)
    if count == 1:
        return
    names = host_names(count)
    instance_type = record["ResourceConfig"].get("InstanceType", "local")
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"].get("S3DataDistributionType", "FullyReplicated")
                for c in record.get("InputDataConfig", [])}
    keys = {name: channel_keys(paths.channel(name)) for name in channels}
    trees = host_trees(paths, count)
    for index, tree in enumerate(trees[1:], start=1):
        for directory in tree.directories():
            directory.mkdir(parents=True, exist_ok=True)
        shutil.copytree(paths.code, tree.code, dirs_exist_ok=True)
        shutil.copytree(paths.input_config, tree.input_config, dirs_exist_ok=True)
        for name, distribution in channels.items():
            chosen = shard(keys[name], index, count) if distribution == SHARDED else keys[name]
            copy_files(paths.channel(name), tree.channel(name), chosen)
    for name, distribution in channels.items():
        if distribution == SHARDED:
            keep_only(paths.channel(name), set(shard(keys[name], 0, count)))
            say(f"channel {name} ({SHARDED}): {len(keys[name])} file(s) over {count} hosts, "
                + ", ".join(f"{host} {len(shard(keys[name], i, count))}" for i, host in enumerate(names)))
    for name, tree in zip(names, trees, strict=True):
        (tree.input_config / "resourceconfig.json").write_text(
            json.dumps(host_resource_config(instance_type, name, names)))
    say(f"{count} instances: {', '.join(names)} (each a process; algo-i's tree is {paths.base / HOSTS_FOLDER}/algo-i)")


def copy_files(source: Path, target: Path, keys: Sequence[str]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for key in keys:
        (target / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / key, target / key)


def keep_only(folder: Path, keep: set[str]) -> None:
    for key in channel_keys(folder):
        if key not in keep:
            (folder / key).unlink()
    for directory in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()


def job_command(command: Sequence[str], program: str, record: Mapping[str, Any], paths: ContainerPaths,
                environment: Mapping[str, str], host_environment: Callable[[ContainerPaths], dict[str, str]], *,
                log: Path, say: Say) -> list[str]:
    """What the supervisor runs: the script behind its namespace, or all hosts' through :mod:`.fan_out`.

    ``environment`` is algo-1's (the one the command runs with); ``host_environment`` builds another host's
    from its tree. Only what differs from algo-1's is written down, so no secret reaches the spec file.
    """
    count = instance_count(record)
    if count == 1:
        return sandbox.job_command(command, paths.base, say=say)
    names = host_names(count)
    hosts = []
    for name, tree in zip(names, host_trees(paths, count), strict=True):
        env = environment if tree is paths else host_environment(tree)
        if tree is not paths and (paths.code / program).is_file():  # a shell entry point was made executable
            shutil.copymode(paths.code / program, tree.code / program)
        hosts.append({
            "name": name,
            "argv": sandbox.job_command(command, tree.base, say=say if tree is paths else None),
            "cwd": str(tree.code),
            "env": {k: v for k, v in env.items() if environment.get(k) != v},
            "unset": sorted(set(environment) - set(env)),
            "failure": str(tree.output / "failure"),
        })
    return fan_out_argv(hosts, paths.base, log=log)


def fan_out_argv(hosts: Sequence[Mapping[str, Any]], job_folder: Path, *, log: Path) -> list[str]:
    """The command that runs every host of ``hosts`` at once (:mod:`.fan_out`), its spec written beside them."""
    spec = job_folder / HOSTS_FOLDER / SPEC_FILE
    spec.parent.mkdir(parents=True, exist_ok=True)
    write_private(spec, json.dumps({"hosts": list(hosts), "log": str(log)}))
    return [sys.executable, "-I", str(Path(fan_out.__file__)), str(spec)]


def merge_outputs(record: Mapping[str, Any], paths: ContainerPaths) -> None:
    """Every host's ``model/`` and ``output/data/`` into algo-1's, later hosts winning (see the module's notes)."""
    for tree in host_trees(paths, instance_count(record))[1:]:
        for source, target in ((tree.model, paths.model), (tree.output_data, paths.output_data)):
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)


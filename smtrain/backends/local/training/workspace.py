"""A job's ``/opt/ml`` tree, laid out before its script runs: the config files, the channels' data and the code.

Everything is copied, never linked: the script cannot write to the user's
folders, nor reach out of them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smtrain.backends.local.training.container_env import (
    ContainerPaths,
    TrainingEnvironment,
    input_data_config,
    resource_config,
)
from smtrain.core.uris import to_path

Say = Callable[[str], None]


def prepare_tree(record: dict[str, Any], paths: ContainerPaths, *, home_root: Path, say: Say) -> None:
    """The directories, the three config files, each channel's data and the code, from the job's record."""
    for directory in paths.directories():
        directory.mkdir(parents=True, exist_ok=True)
    mode = record["AlgorithmSpecification"].get("TrainingInputMode", "File")
    configs = {
        "hyperparameters.json": record.get("HyperParameters", {}),
        "resourceconfig.json": resource_config(record["ResourceConfig"].get("InstanceType", "local")),
        "inputdataconfig.json": input_data_config(record.get("InputDataConfig", []), mode),
    }
    for name, content in configs.items():
        (paths.input_config / name).write_text(json.dumps(content))
    for channel in record.get("InputDataConfig", []):
        copy_channel(channel["DataSource"]["S3DataSource"]["S3Uri"], paths.channel(channel["ChannelName"]),
                     home_root=home_root, say=say)
    install_code(hyperparameter(record, "sagemaker_submit_directory"), paths.code, home_root=home_root, say=say)


def copy_channel(uri: str, target: Path, *, home_root: Path, say: Say) -> None:
    if uri.startswith("s3://"):  # as SageMaker does, with the user's own credentials, through the cache
        from smtrain.files.s3_cache import fetch_s3

        say(f"downloading {uri}")
        source = fetch_s3(uri)
    else:
        source = to_path(uri)
    target.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        copy_folder(source, target, home_root=home_root, say=say)
    else:
        shutil.copy2(source, target / source.name)


def copy_folder(source: Path, target: Path, *, home_root: Path, say: Say) -> None:
    from smtrain.files.packing import copy_folder as copy_packed

    for warning in copy_packed(source, target, home=home_root).warnings():
        say(warning)


def install_code(submit_directory: str, code: Path, *, home_root: Path, say: Say) -> None:
    """The code the job was submitted with: a folder is copied, an archive extracted safely."""
    from smtrain.files.tarballs import safe_extract

    if not submit_directory:
        return
    source = to_path(submit_directory)
    if source.is_dir():
        copy_folder(source, code, home_root=home_root, say=say)
    else:
        safe_extract(source, code)


def hyperparameter(record: dict[str, Any], key: str) -> str:
    from smtrain.planning.spec import decode_hyperparameters

    value = decode_hyperparameters(record.get("HyperParameters", {})).get(key)
    return "" if value is None else str(value)


def training_environment(paths: ContainerPaths, job_name: str) -> TrainingEnvironment:
    """What the toolkit would see, read back from the config files the tree holds."""
    def read(name: str) -> Any:
        return json.loads((paths.input_config / name).read_text())

    return TrainingEnvironment(paths, read("hyperparameters.json"), read("resourceconfig.json"),
                               read("inputdataconfig.json"), job_name=job_name, num_cpus=os.cpu_count() or 1)

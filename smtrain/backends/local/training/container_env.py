"""The training container's contract, as sagemaker-training 4.8.0 implements it.

Pure functions, no I/O: the ``/opt/ml`` tree, the three config files, the
``SM_*`` environment, the script's command line. Each mirrors a named piece
of the toolkit (``environment.Environment``, ``mapping.to_env_vars``,
``mapping.to_cmd_args``, ``process.ProcessRunner._create_command``,
``_entry_point_type.get``) so a script written for the scikit-learn image
sees exactly what it would see there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smtrain.planning.spec import decode_hyperparameters

CURRENT_HOST = "algo-1"
INSTANCE_GROUP = "homogeneousCluster"
NETWORK_INTERFACE = "eth0"
DEFAULT_LOG_LEVEL = 20  # logging.INFO
# What the scikit-learn image's Dockerfiles (docker/<version>/{base,final}/Dockerfile.cpu) set
# for every process in the container.
FRAMEWORK_MODULE = "sagemaker_sklearn_container.training:main"
SERVING_MODULE = "sagemaker_sklearn_container.serving:main"
IMAGE_ENVIRONMENT = {
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "PYTHONIOENCODING": "UTF-8",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "SAGEMAKER_TRAINING_MODULE": FRAMEWORK_MODULE,
    "SAGEMAKER_SERVING_MODULE": SERVING_MODULE,
}
# sagemaker-training and sagemaker-containers read /opt/ml from here when set (environment.BASE_PATH_ENV).
BASE_DIR_VARIABLE = "SAGEMAKER_BASE_DIR"
SAGEMAKER_PREFIX = "sagemaker_"
# params.SAGEMAKER_HYPERPARAMETERS: consumed by the toolkit, not framework parameters.
SAGEMAKER_HYPERPARAMETERS = (
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "default_user_module_name",
    "_tuning_objective_metric",
    "sagemaker_s3_output",
)


@dataclass(frozen=True)
class ContainerPaths:
    """The ``/opt/ml`` tree rooted at ``base`` (a per-job directory locally)."""

    base: Path

    @property
    def code(self) -> Path:
        return self.base / "code"

    @property
    def model(self) -> Path:
        return self.base / "model"

    @property
    def input(self) -> Path:
        return self.base / "input"

    @property
    def input_config(self) -> Path:
        return self.input / "config"

    @property
    def input_data(self) -> Path:
        return self.input / "data"

    @property
    def output(self) -> Path:
        return self.base / "output"

    @property
    def output_data(self) -> Path:
        return self.output / "data"

    @property
    def output_intermediate(self) -> Path:
        return self.output / "intermediate"

    def image_env_vars(self) -> dict[str, str]:
        """The Dockerfile's ``SM_INPUT*`` / ``SM_CHECKPOINT_CONFIG_FILE`` and the toolkit's base
        directory, for this tree instead of ``/opt/ml``."""
        return {
            BASE_DIR_VARIABLE: str(self.base),
            "SM_INPUT": str(self.input),
            "SM_INPUT_TRAINING_CONFIG_FILE": str(self.input_config / "hyperparameters.json"),
            "SM_INPUT_DATA_CONFIG_FILE": str(self.input_config / "inputdataconfig.json"),
            "SM_CHECKPOINT_CONFIG_FILE": str(self.input_config / "checkpointconfig.json"),
        }

    def channel(self, name: str) -> Path:
        return self.input_data / name

    def directories(self) -> list[Path]:
        return [self.code, self.model, self.input_config, self.input_data,
                self.output_data, self.output_intermediate]


def resource_config(instance_type: str) -> dict[str, Any]:
    """``resourceconfig.json`` of a one-instance job."""
    return {
        "current_host": CURRENT_HOST,
        "current_instance_type": instance_type,
        "current_group_name": INSTANCE_GROUP,
        "hosts": [CURRENT_HOST],
        "instance_groups": [
            {"instance_group_name": INSTANCE_GROUP, "instance_type": instance_type, "hosts": [CURRENT_HOST]}
        ],
        "network_interface_name": NETWORK_INTERFACE,
    }


def input_data_config(channels: Sequence[Mapping[str, Any]], input_mode: str) -> dict[str, Any]:
    """``inputdataconfig.json`` from the request's ``InputDataConfig``."""
    config: dict[str, Any] = {}
    for channel in channels:
        s3 = channel.get("DataSource", {}).get("S3DataSource", {})
        entry: dict[str, Any] = {}
        if channel.get("ContentType"):
            entry["ContentType"] = channel["ContentType"]
        entry["TrainingInputMode"] = channel.get("InputMode") or input_mode
        entry["S3DistributionType"] = s3.get("S3DataDistributionType", "FullyReplicated")
        entry["RecordWrapperType"] = channel.get("RecordWrapperType", "None")
        config[channel["ChannelName"]] = entry
    return config


def split_hyperparameters(decoded: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(user, sagemaker)``: ``mapping.split_by_criteria`` on the toolkit's keys and prefix."""
    sagemaker = {k: v for k, v in decoded.items() if k in SAGEMAKER_HYPERPARAMETERS or k.startswith(SAGEMAKER_PREFIX)}
    user = {k: v for k, v in decoded.items() if k not in sagemaker}
    return user, sagemaker


def _decode(value: Any) -> str:
    return "" if value is None else str(value)


def to_cmd_args(mapping: Mapping[str, Any]) -> list[str]:
    """``mapping.to_cmd_args``: sorted ``--key value`` (``-k`` for one letter; dicts as ``k=v,k2=v2``)."""
    args: list[str] = []
    for key in sorted(mapping):
        name = _decode(key)
        args.append((f"--{name}" if len(name) > 1 else f"-{name}") if name else "")
        value = mapping[key]
        if hasattr(value, "items"):
            args.append(",".join(f"{k}={v}" for k, v in sorted(value.items())))
        else:
            args.append(_decode(value))
    return args


def format_env_value(value: Any) -> str:
    """``mapping.to_env_vars``'s values: strings raw, ``None`` empty, anything else compact sorted JSON."""
    if isinstance(value, bytes):
        return value.decode("latin1")
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def to_env_vars(mapping: Mapping[str, Any]) -> dict[str, str]:
    """``mapping.to_env_vars``: ``SM_<KEY>`` upper-cased."""
    return {(f"SM_{str(key).upper()}" if key else ""): format_env_value(value) for key, value in mapping.items()}


def module_name(program: str | None) -> str | None:
    return program[:-3] if program and program.endswith(".py") else program


class TrainingEnvironment:
    """``environment.Environment`` for one local instance, built from the job's inputs."""

    def __init__(
        self,
        paths: ContainerPaths,
        hyperparameters: Mapping[str, str],
        resources: Mapping[str, Any],
        data_config: Mapping[str, Any],
        *,
        job_name: str,
        num_cpus: int,
        framework_module: str | None = FRAMEWORK_MODULE,
    ) -> None:
        self.paths = paths
        self.user_hyperparameters, sagemaker = split_hyperparameters(decode_hyperparameters(hyperparameters))
        self.sagemaker_hyperparameters = sagemaker
        self.resources = dict(resources)
        self.data_config = dict(data_config)
        self.job_name = job_name
        self.num_cpus = num_cpus
        self.framework_module = framework_module
        self.program: str | None = sagemaker.get("sagemaker_program")

    @property
    def framework_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.sagemaker_hyperparameters.items() if k not in SAGEMAKER_HYPERPARAMETERS}

    @property
    def module_dir(self) -> str:
        return str(self.sagemaker_hyperparameters.get("sagemaker_submit_directory", self.paths.code))

    @property
    def log_level(self) -> Any:
        return self.sagemaker_hyperparameters.get("sagemaker_container_log_level", DEFAULT_LOG_LEVEL)

    @property
    def channel_input_dirs(self) -> dict[str, str]:
        return {name: str(self.paths.channel(name)) for name in self.data_config}

    def instance_groups_dict(self) -> dict[str, Any]:
        return {g["instance_group_name"]: g for g in self.resources.get("instance_groups", [])}

    def current_group(self) -> str:
        return str(self.resources.get("current_group_name", INSTANCE_GROUP))

    def properties(self) -> dict[str, Any]:
        """``dict(Environment())``: every public property, the value of ``SM_TRAINING_ENV``."""
        hosts = list(self.resources["hosts"])
        groups = self.instance_groups_dict()
        current_group = self.current_group()
        return {
            "additional_framework_parameters": self.framework_params,
            "channel_input_dirs": self.channel_input_dirs,
            "current_host": self.resources["current_host"],
            "current_instance_group": current_group,
            "current_instance_group_hosts": groups.get(current_group, {}).get("hosts", []),
            "current_instance_type": self.resources.get("current_instance_type", "local"),
            # No MPI / parameter-server / DDP flags: no distribution groups, hence no distribution hosts.
            "distribution_hosts": [] if groups else hosts,
            "distribution_instance_groups": [],
            "framework_module": self.framework_module,
            "hosts": hosts,
            "hyperparameters": self.user_hyperparameters,
            "input_config_dir": str(self.paths.input_config),
            "input_data_config": self.data_config,
            "input_dir": str(self.paths.input),
            "instance_groups": list(groups),
            "instance_groups_dict": groups,
            "is_hetero": len(groups) > 1,
            "is_master": self.resources["current_host"] == hosts[0],
            "is_modelparallel_enabled": None,
            "is_smddpmprun_installed": False,
            "is_smddprun_installed": False,
            "job_name": self.job_name,
            "log_level": self.log_level,
            "master_hostname": hosts[0],
            "model_dir": str(self.paths.model),
            "module_dir": self.module_dir,
            "module_name": module_name(self.program),
            "network_interface_name": self.resources.get("network_interface_name", NETWORK_INTERFACE),
            "num_cpus": self.num_cpus,
            "num_gpus": 0,
            "num_neurons": 0,
            "output_data_dir": str(self.paths.output_data),
            "output_dir": str(self.paths.output),
            "output_intermediate_dir": str(self.paths.output_intermediate),
            "resource_config": self.resources,
            "user_entry_point": self.program,
        }

    def to_cmd_args(self) -> list[str]:
        return to_cmd_args(self.user_hyperparameters)

    def to_env_vars(self) -> dict[str, str]:
        """``Environment.to_env_vars``: the ``SM_*`` variables the script sees."""
        p = self.properties()
        env: dict[str, Any] = {
            "hosts": p["hosts"],
            "network_interface_name": p["network_interface_name"],
            "hps": p["hyperparameters"],
            "user_entry_point": p["user_entry_point"],
            "framework_params": p["additional_framework_parameters"],
            "resource_config": p["resource_config"],
            "input_data_config": p["input_data_config"],
            "output_data_dir": p["output_data_dir"],
            "channels": sorted(p["channel_input_dirs"]),
            "current_host": p["current_host"],
            "current_instance_type": p["current_instance_type"],
            "current_instance_group": p["current_instance_group"],
            "current_instance_group_hosts": p["current_instance_group_hosts"],
            "instance_groups": p["instance_groups"],
            "instance_groups_dict": p["instance_groups_dict"],
            "distribution_instance_groups": p["distribution_instance_groups"],
            "is_hetero": p["is_hetero"],
            "module_name": p["module_name"],
            "log_level": p["log_level"],
            "framework_module": p["framework_module"],
            "input_dir": p["input_dir"],
            "input_config_dir": p["input_config_dir"],
            "output_dir": p["output_dir"],
            "num_cpus": p["num_cpus"],
            "num_gpus": p["num_gpus"],
            "num_neurons": p["num_neurons"],
            "model_dir": p["model_dir"],
            "module_dir": p["module_dir"],
            "training_env": p,
            "user_args": self.to_cmd_args(),
            "output_intermediate_dir": p["output_intermediate_dir"],
        }
        for name, path in p["channel_input_dirs"].items():
            env[f"channel_{name}"] = path
        for key, value in p["hyperparameters"].items():
            env[f"hp_{key}"] = value
        return to_env_vars(env)

    def platform_env_vars(self, region: str) -> dict[str, str]:
        """What the platform and ``Environment()`` itself put in ``os.environ`` besides ``SM_*``."""
        return {
            "TRAINING_JOB_NAME": self.job_name,
            "SAGEMAKER_JOB_NAME": str(self.sagemaker_hyperparameters.get("sagemaker_job_name", "")),
            "CURRENT_HOST": str(self.resources["current_host"]),
            "SAGEMAKER_REGION": str(self.sagemaker_hyperparameters.get("sagemaker_region", region) or ""),
        }


def script_environment(
    base: Mapping[str, str],
    request_environment: Mapping[str, str],
    training_env: TrainingEnvironment,
    *,
    region: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The script's whole environment, later layers winning:
    the caller's, the image's, the request's ``Environment``, the platform's, the toolkit's ``SM_*``."""
    env = {k: v for k, v in base.items() if not k.startswith("SM_")}
    env.update(IMAGE_ENVIRONMENT)
    env.update(training_env.paths.image_env_vars())
    env.update(request_environment)
    env.update(extra or {})
    env.update(training_env.platform_env_vars(region))
    env.update(training_env.to_env_vars())
    # write_env_vars exports the toolkit's sys.path, which starts with the code directory.
    code = str(training_env.paths.code)
    env["PYTHONPATH"] = code + (":" + base["PYTHONPATH"] if base.get("PYTHONPATH") else "")
    return env


def serving_environment(model_environment: Mapping[str, str], root: Path) -> dict[str, str]:
    """What the image sets at serving, for a deployment laid out as ``root/model`` and ``root/code``;
    the model's ``Environment`` wins."""
    env = dict(IMAGE_ENVIRONMENT)
    env.update({BASE_DIR_VARIABLE: str(root), "SM_MODEL_DIR": str(root / "model")})
    env.update(model_environment)
    return env


def entry_point_type(code_files: Sequence[str], entry_point: str) -> str:
    """``_entry_point_type.get``: COMMAND, PYTHON_PACKAGE or PYTHON_PROGRAM."""
    if entry_point.endswith(".sh"):
        return "COMMAND"
    if "setup.py" in code_files:
        return "PYTHON_PACKAGE"
    if entry_point.endswith(".py"):
        return "PYTHON_PROGRAM"
    return "COMMAND"


def script_command(kind: str, entry_point: str, args: Sequence[str], python: str) -> list[str]:
    """``ProcessRunner._create_command`` for each entry point type."""
    if kind == "PYTHON_PACKAGE":
        return [python, "-m", entry_point.replace(".py", ""), *args]
    if kind == "PYTHON_PROGRAM":
        return [python, entry_point, *args]
    import shlex

    return ["/bin/sh", "-c", f"./{entry_point} {' '.join(shlex.quote(a) for a in args)}"]

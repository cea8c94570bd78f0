"""The training-container contract, checked against sagemaker-training 4.8.0.

The expected values below were produced by the toolkit itself
(``environment.Environment().to_env_vars()`` / ``.to_cmd_args()``, 4.8.0 from
PyPI, ``num_cpus`` pinned to 4) for the same config files, with the base
directory at ``/opt/ml``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smtrain.backends.local.jobs import job_state
from smtrain.backends.local.training.container_env import (
    ContainerPaths,
    TrainingEnvironment,
    entry_point_type,
    format_env_value,
    input_data_config,
    resource_config,
    script_command,
    script_environment,
    serving_environment,
    split_hyperparameters,
    to_cmd_args,
)
from smtrain.planning.spec import decode_hyperparameters, encode_hyperparameters

HYPERPARAMETERS = {
    "max_depth": "8", "criterion": '"gini"', "n": "3", "a": "0.5", "flag": "true", "raw": "not json",
    "nested": '{"b": 2, "a": "x"}', "lst": "[1, 2]",
    "sagemaker_program": '"train.py"', "sagemaker_submit_directory": '"file:///tmp/src/sourcedir.tar.gz"',
    "sagemaker_container_log_level": "20", "sagemaker_job_name": '"job-1"', "sagemaker_region": '"eu-west-1"',
    "sagemaker_extra_flag": "true", "_tuning_objective_metric": '"acc"',
}
CHANNELS = [
    {"ChannelName": "train", "ContentType": "text/csv",
     "DataSource": {"S3DataSource": {"S3Uri": "file:///d/train", "S3DataDistributionType": "FullyReplicated"}}},
    {"ChannelName": "test", "DataSource": {"S3DataSource": {"S3Uri": "file:///d/test"}}},
]
GROUP = {"hosts": ["algo-1"], "instance_group_name": "homogeneousCluster", "instance_type": "ml.m5.large"}
RESOURCES = {
    "current_group_name": "homogeneousCluster", "current_host": "algo-1", "current_instance_type": "ml.m5.large",
    "hosts": ["algo-1"], "instance_groups": [GROUP], "network_interface_name": "eth0",
}
DATA_CONFIG = {
    "test": {"RecordWrapperType": "None", "S3DistributionType": "FullyReplicated", "TrainingInputMode": "File"},
    "train": {"ContentType": "text/csv", "RecordWrapperType": "None", "S3DistributionType": "FullyReplicated",
              "TrainingInputMode": "File"},
}
USER_HPS = {"a": 0.5, "criterion": "gini", "flag": True, "lst": [1, 2], "max_depth": 8, "n": 3,
            "nested": {"a": "x", "b": 2}, "raw": "not json"}
USER_ARGS = ["-a", "0.5", "--criterion", "gini", "--flag", "True", "--lst", "[1, 2]", "--max_depth", "8",
             "-n", "3", "--nested", "a=x,b=2", "--raw", "not json"]
CHANNEL_DIRS = {"test": "/opt/ml/input/data/test", "train": "/opt/ml/input/data/train"}
TOOLKIT_PLAIN_VARS = {
    "SM_CHANNEL_TEST": "/opt/ml/input/data/test",
    "SM_CHANNEL_TRAIN": "/opt/ml/input/data/train",
    "SM_CURRENT_HOST": "algo-1",
    "SM_CURRENT_INSTANCE_GROUP": "homogeneousCluster",
    "SM_CURRENT_INSTANCE_TYPE": "ml.m5.large",
    "SM_FRAMEWORK_MODULE": "sagemaker_sklearn_container.training:main",
    "SM_HP_A": "0.5",
    "SM_HP_CRITERION": "gini",
    "SM_HP_FLAG": "true",
    "SM_HP_MAX_DEPTH": "8",
    "SM_HP_N": "3",
    "SM_HP_RAW": "not json",
    "SM_INPUT_CONFIG_DIR": "/opt/ml/input/config",
    "SM_INPUT_DIR": "/opt/ml/input",
    "SM_IS_HETERO": "false",
    "SM_LOG_LEVEL": "20",
    "SM_MODEL_DIR": "/opt/ml/model",
    "SM_MODULE_DIR": "file:///tmp/src/sourcedir.tar.gz",
    "SM_MODULE_NAME": "train",
    "SM_NETWORK_INTERFACE_NAME": "eth0",
    "SM_NUM_CPUS": "4",
    "SM_NUM_GPUS": "0",
    "SM_NUM_NEURONS": "0",
    "SM_OUTPUT_DATA_DIR": "/opt/ml/output/data",
    "SM_OUTPUT_DIR": "/opt/ml/output",
    "SM_OUTPUT_INTERMEDIATE_DIR": "/opt/ml/output/intermediate",
    "SM_USER_ENTRY_POINT": "train.py",
}
TOOLKIT_JSON_VARS = {
    "SM_CHANNELS": ["test", "train"],
    "SM_CURRENT_INSTANCE_GROUP_HOSTS": ["algo-1"],
    "SM_DISTRIBUTION_INSTANCE_GROUPS": [],
    "SM_FRAMEWORK_PARAMS": {"sagemaker_extra_flag": True},
    "SM_HOSTS": ["algo-1"],
    "SM_HPS": USER_HPS,
    "SM_HP_LST": [1, 2],
    "SM_HP_NESTED": {"a": "x", "b": 2},
    "SM_INPUT_DATA_CONFIG": DATA_CONFIG,
    "SM_INSTANCE_GROUPS": ["homogeneousCluster"],
    "SM_INSTANCE_GROUPS_DICT": {"homogeneousCluster": GROUP},
    "SM_RESOURCE_CONFIG": RESOURCES,
    "SM_USER_ARGS": USER_ARGS,
}
TOOLKIT_TRAINING_ENV = {
    "additional_framework_parameters": {"sagemaker_extra_flag": True},
    "channel_input_dirs": CHANNEL_DIRS,
    "current_host": "algo-1",
    "current_instance_group": "homogeneousCluster",
    "current_instance_group_hosts": ["algo-1"],
    "current_instance_type": "ml.m5.large",
    "distribution_hosts": [],
    "distribution_instance_groups": [],
    "framework_module": "sagemaker_sklearn_container.training:main",
    "hosts": ["algo-1"],
    "hyperparameters": USER_HPS,
    "input_config_dir": "/opt/ml/input/config",
    "input_data_config": DATA_CONFIG,
    "input_dir": "/opt/ml/input",
    "instance_groups": ["homogeneousCluster"],
    "instance_groups_dict": {"homogeneousCluster": GROUP},
    "is_hetero": False,
    "is_master": True,
    "is_modelparallel_enabled": None,
    "is_smddpmprun_installed": False,
    "is_smddprun_installed": False,
    "job_name": "job-1",
    "log_level": 20,
    "master_hostname": "algo-1",
    "model_dir": "/opt/ml/model",
    "module_dir": "file:///tmp/src/sourcedir.tar.gz",
    "module_name": "train",
    "network_interface_name": "eth0",
    "num_cpus": 4,
    "num_gpus": 0,
    "num_neurons": 0,
    "output_data_dir": "/opt/ml/output/data",
    "output_dir": "/opt/ml/output",
    "output_intermediate_dir": "/opt/ml/output/intermediate",
    "resource_config": RESOURCES,
    "user_entry_point": "train.py",
}


def compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@pytest.fixture
def environment() -> TrainingEnvironment:
    return TrainingEnvironment(
        ContainerPaths(Path("/opt/ml")), HYPERPARAMETERS, resource_config("ml.m5.large"),
        input_data_config(CHANNELS, "File"), job_name="job-1", num_cpus=4,
    )


def test_config_files_have_the_platform_shapes() -> None:
    assert resource_config("ml.m5.large") == RESOURCES
    assert input_data_config(CHANNELS, "File") == DATA_CONFIG


def test_env_vars_match_the_toolkit_exactly(environment: TrainingEnvironment) -> None:
    env = environment.to_env_vars()

    expected_names = {*TOOLKIT_PLAIN_VARS, *TOOLKIT_JSON_VARS, "SM_TRAINING_ENV"}
    assert set(env) == expected_names
    for name, value in TOOLKIT_PLAIN_VARS.items():
        assert env[name] == value, name
    for name, value in TOOLKIT_JSON_VARS.items():
        assert env[name] == compact(value), name  # compact, key-sorted JSON
    assert env["SM_TRAINING_ENV"] == compact(TOOLKIT_TRAINING_ENV)


def test_cmd_args_match_the_toolkit(environment: TrainingEnvironment) -> None:
    assert environment.to_cmd_args() == USER_ARGS


def test_platform_variables(environment: TrainingEnvironment) -> None:
    assert environment.platform_env_vars("us-east-1") == {
        "TRAINING_JOB_NAME": "job-1", "SAGEMAKER_JOB_NAME": "job-1",
        "CURRENT_HOST": "algo-1", "SAGEMAKER_REGION": "eu-west-1",
    }


def test_without_submit_directory_the_module_dir_is_the_code_dir() -> None:
    hps = encode_hyperparameters({"sagemaker_program": "train.py"})
    env = TrainingEnvironment(ContainerPaths(Path("/opt/ml")), hps, resource_config("local"), {},
                              job_name="j", num_cpus=1)

    assert env.to_env_vars()["SM_MODULE_DIR"] == "/opt/ml/code"
    assert env.to_env_vars()["SM_CHANNELS"] == "[]"
    assert env.platform_env_vars("us-west-2")["SAGEMAKER_REGION"] == "us-west-2"


def test_hyperparameters_decode_as_the_toolkit_reads_them() -> None:
    sent = encode_hyperparameters({"n": 8, "criterion": "gini", "ratio": 0.5, "flags": [1, 2]})

    assert sent == {"n": "8", "criterion": '"gini"', "ratio": "0.5", "flags": "[1, 2]"}
    assert decode_hyperparameters({**sent, "raw": "not json", "empty": ""}) == {
        "n": 8, "criterion": "gini", "ratio": 0.5, "flags": [1, 2], "raw": "not json", "empty": "",
    }


def test_sagemaker_keys_are_dropped_from_the_user_set() -> None:
    user, sagemaker = split_hyperparameters(decode_hyperparameters(HYPERPARAMETERS))

    assert user == USER_HPS
    assert set(sagemaker) == {k for k in HYPERPARAMETERS if k.startswith("sagemaker_")} | {"_tuning_objective_metric"}


@pytest.mark.parametrize(
    ("mapping", "args"),
    [
        ({"b": 1, "a": "x"}, ["-a", "x", "-b", "1"]),
        ({"learning-rate": 0.1}, ["--learning-rate", "0.1"]),
        ({"opts": {"z": 1, "k": "v"}}, ["--opts", "k=v,z=1"]),
        ({"on": True, "none": None, "list": ["a", 1]}, ["--list", "['a', 1]", "--none", "", "--on", "True"]),
    ],
)
def test_to_cmd_args(mapping: dict[str, object], args: list[str]) -> None:
    assert to_cmd_args(mapping) == args


@pytest.mark.parametrize(
    ("value", "text"),
    [("gini", "gini"), (None, ""), (True, "true"), (8, "8"), ({"b": 1, "a": [1, "é"]}, '{"a":[1,"\\u00e9"],"b":1}')],
)
def test_env_values(value: object, text: str) -> None:
    assert format_env_value(value) == text


def test_entry_point_types_and_commands() -> None:
    assert entry_point_type(["train.py"], "train.py") == "PYTHON_PROGRAM"
    assert entry_point_type(["train.py", "setup.py"], "train.py") == "PYTHON_PACKAGE"
    assert entry_point_type(["setup.py", "run.sh"], "run.sh") == "COMMAND"
    assert entry_point_type(["train"], "train") == "COMMAND"
    assert script_command("PYTHON_PROGRAM", "train.py", ["--n", "1"], "/py") == ["/py", "train.py", "--n", "1"]
    assert script_command("PYTHON_PACKAGE", "train.py", ["--n", "1"], "/py") == ["/py", "-m", "train", "--n", "1"]
    assert script_command("COMMAND", "run.sh", ["--s", "a b"], "/py") == ["/bin/sh", "-c", "./run.sh --s 'a b'"]


def test_script_environment_layers(environment: TrainingEnvironment) -> None:
    base = {"PATH": "/bin", "SM_STALE": "x", "SM_MODEL_DIR": "/elsewhere", "PYTHONPATH": "/mine",
            "PYTHONUNBUFFERED": "0"}
    request = {"MY_SETTING": "1", "PYTHONUNBUFFERED": "", "SM_MODEL_DIR": "/override"}

    env = script_environment(base, request, environment, region="us-east-1", extra={"TRAINING_JOB_ARN": "arn"})

    assert env["PATH"] == "/bin"
    assert "SM_STALE" not in env
    assert env["MY_SETTING"] == "1"
    assert env["PYTHONUNBUFFERED"] == ""  # the request's Environment beats the image's
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"  # the toolkit's variables beat everything
    assert env["SAGEMAKER_TRAINING_MODULE"] == "sagemaker_sklearn_container.training:main"
    assert env["TRAINING_JOB_ARN"] == "arn"
    assert env["PYTHONPATH"] == "/opt/ml/code:/mine"


def test_script_environment_has_the_dockerfile_variables_for_this_tree(environment: TrainingEnvironment) -> None:
    env = script_environment({}, {}, environment, region="us-east-1")

    # as docker/<version>/{base,final}/Dockerfile.cpu set them, with this job's tree instead of /opt/ml
    assert {k: env[k] for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "LANG",
                                "LC_ALL")} == {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
                                               "PYTHONIOENCODING": "UTF-8", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    assert env["SM_INPUT"] == "/opt/ml/input"
    assert env["SM_INPUT_TRAINING_CONFIG_FILE"] == "/opt/ml/input/config/hyperparameters.json"
    assert env["SM_INPUT_DATA_CONFIG_FILE"] == "/opt/ml/input/config/inputdataconfig.json"
    assert env["SM_CHECKPOINT_CONFIG_FILE"] == "/opt/ml/input/config/checkpointconfig.json"
    assert env["SAGEMAKER_BASE_DIR"] == "/opt/ml"  # where sagemaker_training.environment looks
    assert env["SAGEMAKER_SERVING_MODULE"] == "sagemaker_sklearn_container.serving:main"


def test_serving_environment_points_the_image_variables_at_the_deployment(tmp_path: Path) -> None:
    env = serving_environment({"SAGEMAKER_PROGRAM": "serve.py", "LANG": "en_US.UTF-8"}, tmp_path)

    assert env["SM_MODEL_DIR"] == str(tmp_path / "model")
    assert env["SAGEMAKER_BASE_DIR"] == str(tmp_path)
    assert env["SAGEMAKER_PROGRAM"] == "serve.py"
    assert env["LANG"] == "en_US.UTF-8"  # the model's Environment wins
    assert env["LC_ALL"] == "C.UTF-8" and env["PYTHONIOENCODING"] == "UTF-8"


def test_failure_reason_keeps_the_exception_line_within_1024_characters() -> None:
    output = ["starting", *(f"progress line {i} " + "x" * 60 for i in range(50)),
              "Traceback (most recent call last):",
              *(f'  File "/opt/ml/code/train.py", line {i}, in f{i}\n    f{i + 1}()' for i in range(40)),
              "ValueError: the real cause"]

    text = job_state.user_error_reason("ExecuteUserScriptError", 1, output, "/py train.py --n 1")
    reason = job_state.failure_reason(text)

    assert text.startswith('ExecuteUserScriptError:\nExitCode 1\nErrorMessage "...\n')
    assert text.endswith('ValueError: the real cause"\nCommand "/py train.py --n 1"')
    assert len(reason) <= 1024
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\n")
    assert 'ValueError: the real cause"' in reason


def test_failure_reason_without_a_traceback_keeps_the_last_lines() -> None:
    text = job_state.user_error_reason("ExecuteUserScriptError", 2, ["a", "", "b", "fatal: bad input"], "./run.sh")

    assert text == 'ExecuteUserScriptError:\nExitCode 2\nErrorMessage "a\nb\nfatal: bad input"\nCommand "./run.sh"'


def test_killed_by_sigkill_says_out_of_memory() -> None:
    assert "OutOfMemory" in job_state.user_error_reason("ExecuteUserScriptError", -9, [], "py")


def test_metrics_first_group_as_float_last_value_wins() -> None:
    parser = job_state.MetricParser([
        {"Name": "acc", "Regex": r"acc=([0-9.]+)"},
        {"Name": "loss", "Regex": r"loss: (\S+)"},
        {"Name": "whole", "Regex": r"\b[0-9]+\.5\b"},
    ])
    for line in ["acc=0.5 loss: 1.25", "acc=0.75", "loss: nan-ish", "epoch 3.5 done"]:
        parser.feed(line)

    values = {m["MetricName"]: m["Value"] for m in parser.snapshot()}

    assert values == {"acc": 0.75, "loss": 1.25, "whole": 3.5}
    assert not parser.dirty

"""Bad names, paths and values are refused before anything is written.

Each case runs the real `smtrain` command (or the local client, for requests a
boto3 user would send) and asserts the documented exit code, a message naming
the problem, no traceback, and that nothing new exists anywhere under the
test's root: no job folder, no store file, no file outside ``SMTRAIN_HOME``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from tests.conftest import REPO
from tests.e2e.conftest import Cli

LONG = "x" * 2501
ALLOWED_NEW = {"state.db", "state.db-wal", "state.db-shm"}  # opening the home creates its index, nothing else


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tmp/<root>/project (the user's folder, with entry_points/ and data/) and its home project/.smtrain."""
    base = tmp_path_factory.mktemp("names")
    project = base / "project"
    shutil.copytree(REPO / "entry_points", project / "entry_points")
    (project / "data").mkdir()
    (project / "data" / "train.csv").write_text("a,b\n1,2\n")
    return base


@pytest.fixture
def cli(root: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env["SMTRAIN_HOME"] = str(root / "project" / ".smtrain")
    return Cli(root / "project", env)


def snapshot(base: Path) -> set[str]:
    return {str(p.relative_to(base)) for p in base.rglob("*")}


@pytest.fixture
def unchanged(root: Path) -> Iterator[None]:
    """Nothing new under the test's root (the home's own index aside), and nothing next to it."""
    before, beside = snapshot(root), set(os.listdir(root.parent))
    yield
    new = {p for p in snapshot(root) - before if Path(p).name not in ALLOWED_NEW and Path(p).name != ".smtrain"}
    assert new == set(), f"written: {sorted(new)}"
    assert set(os.listdir(root.parent)) == beside


FIT = ["fit", "--entry-point", "penguins.py", "--source-dir", "entry_points", "--channel", "train=data",
       "--no-wait"]


def fit(*extra: str) -> list[str]:
    return [*FIT, *extra]


def many(flag: str, count: int, template: str) -> list[str]:
    return [part for i in range(count) for part in (flag, template.format(i=i))]


# (id, argv, extra environment, exit code, words the message must contain)
CLI_CASES: list[tuple[str, list[str], dict[str, str], int, str]] = [
    ("job-name-traversal", fit("--job-name", "../../etc"), {}, 2, "invalid job name '../../etc'"),
    ("job-name-underscore", fit("--job-name", "a_b"), {}, 2, "invalid job name 'a_b'"),
    ("job-name-64-chars", fit("--job-name", "j" * 64), {}, 2, "length less than or equal to 63"),
    ("job-name-leading-hyphen", fit("--job-name", "-job"), {}, 2, "invalid job name '-job'"),
    ("job-name-trailing-hyphen", fit("--job-name", "job-"), {}, 2, "invalid job name 'job-'"),
    ("job-name-slash", fit("--job-name", "a/b"), {}, 2, "invalid job name 'a/b'"),
    ("channel-traversal", fit("--channel", "../../x=data"), {}, 2, "invalid channel name '../../x'"),
    ("channel-dotdot", fit("--channel", "..=data"), {}, 2, "invalid channel name '..'"),
    ("channel-dot", fit("--channel", ".=data"), {}, 2, "invalid channel name '.'"),
    ("channel-slash", fit("--channel", "a/b=data"), {}, 2, "invalid channel name 'a/b'"),
    ("channel-65-chars", fit("--channel", "c" * 65 + "=data"), {}, 2, "length less than or equal to 64"),
    ("channel-21", fit(*many("--channel", 20, "c{i}=data")), {}, 2, "length less than or equal to 20"),
    ("entry-point-absolute", ["fit", "--entry-point", "/etc/hostname", "--source-dir", "entry_points",
                              "--channel", "train=data"], {}, 2, "is not a path inside --source-dir"),
    ("entry-point-parent", ["fit", "--entry-point", "../entry_points/penguins.py", "--source-dir",
                            "entry_points", "--channel", "train=data"], {}, 2, "leaves --source-dir"),
    ("entry-point-inner-parent", ["fit", "--entry-point", "a/../../x.py", "--source-dir", "entry_points",
                                  "--channel", "train=data"], {}, 2, "leaves --source-dir"),
    ("hp-sagemaker-program", fit("--hp", "sagemaker_program=evil.py"), {}, 2, "'sagemaker_program' is reserved"),
    ("hp-sagemaker-submit", fit("--hp", "sagemaker_submit_directory=s3://x/y"), {}, 2, "is reserved"),
    ("hp-96-keys", fit(*many("--hp", 96, "k{i}=1")), {}, 2, "96 hyperparameters given"),
    ("hp-key-257", fit("--hp", "k" * 257 + "=1"), {}, 2, "SageMaker allows 1-256"),
    ("hp-value-2501", fit("--hp", f"big={LONG}"), {}, 2, "SageMaker allows 2500"),
    ("metric-unclosed-class", fit("--metric-definition", "acc=([0-9"), {}, 2, "does not compile"),
    ("metric-bad-group", fit("--metric-definition", "acc=(?P<x"), {}, 2, "does not compile"),
    ("metric-name-256", fit("--metric-definition", "m" * 256 + "=a=([0-9]+)"), {}, 2,
     "length less than or equal to 255"),
    ("instance-count-0", fit("--instance-count", "0"), {}, 2, "instance count must be a whole number of at least 1"),
    ("instance-count-negative", fit("--instance-count", "-3"), {}, 2, "at least 1, got -3"),
    ("spot-max-wait-0", fit("--spot", "--max-wait", "0"), {}, 2, "spot max wait must be"),
    ("env-leading-digit", fit("--env", "1BAD=x"), {}, 2, "invalid environment variable name '1BAD'"),
    ("env-hyphen", fit("--env", "A-B=x"), {}, 2, "invalid environment variable name 'A-B'"),
    ("env-value-513", fit("--env", f"A={'v' * 513}"), {}, 2, "length less than or equal to 512"),
    ("env-101-keys", fit(*many("--env", 101, "E{i}=1")), {}, 2, "length less than or equal to 100"),
    ("prefix-traversal", fit(), {"SMTRAIN_PREFIX": "../.."}, 2, "invalid prefix '../..'"),
    ("prefix-absolute", fit(), {"SMTRAIN_PREFIX": "/tmp/elsewhere"}, 2, "invalid prefix '/tmp/elsewhere'"),
    ("prefix-empty-segment", fit(), {"SMTRAIN_PREFIX": "a//b"}, 2, "invalid prefix 'a//b'"),
    ("prefix-space", fit(), {"SMTRAIN_PREFIX": "a b"}, 2, "invalid prefix 'a b'"),
    ("config-instance-count-0", fit(), {"SMTRAIN_INSTANCE_COUNT": "0"}, 2, "instance_count must be at least 1"),
    ("config-volume-negative", fit(), {"SMTRAIN_VOLUME_SIZE_GB": "-1"}, 2, "volume_size_gb must be at least 1"),
    ("config-max-runtime-0", fit(), {"SMTRAIN_MAX_RUNTIME_SECONDS": "0"}, 2, "max_runtime_seconds must be at least"),
    ("config-port-70000", fit(), {"SMTRAIN_RUNTIME_PORT": "70000"}, 2, "runtime_port must be a port number"),
    ("config-port-negative", ["ls"], {"SMTRAIN_RUNTIME_PORT": "-1"}, 2, "runtime_port must be a port number"),
    ("prepare-name-traversal", ["prepare", "--name", "../.."], {}, 2, "invalid dataset name '../..'"),
    ("prepare-name-slash", ["prepare", "--name", "a/b"], {}, 2, "invalid dataset name 'a/b'"),
    ("prepare-name-dot", ["prepare", "--name", "."], {}, 2, "invalid dataset name '.'"),
    ("deploy-ttl-0", ["deploy", "j1", "--ttl", "0"], {}, 2, "TTL must be a whole number of at least 1"),
    ("deploy-ttl-negative", ["deploy", "j1", "--ttl", "-5"], {}, 2, "TTL must be"),
    ("deploy-workers-0", ["deploy", "j1", "--workers", "0"], {}, 2, "worker count must be"),
    ("deploy-instance-count-0", ["deploy", "j1", "--instance-count", "0"], {}, 2, "instance count must be"),
    ("deploy-endpoint-traversal", ["deploy", "j1", "--endpoint-name", "../x"], {}, 2, "invalid endpoint name"),
    ("deploy-entry-point-absolute", ["deploy", "j1", "--entry-point", "/etc/passwd"], {}, 2,
     "is not a path inside"),
    ("plan-fit-channel-traversal", ["plan", "fit", *FIT[1:-1], "--channel", "../y=data"], {}, 2,
     "invalid channel name '../y'"),
]


@pytest.mark.parametrize(("argv", "env", "code", "words"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
@pytest.mark.usefixtures("unchanged")
def test_cli_refuses_bad_input_before_writing(cli: Cli, argv: list[str], env: dict[str, str], code: int,
                                              words: str) -> None:
    result = Cli(cli.cwd, {**cli.env, **env})(*argv, timeout=60)
    assert result.code == code, result.err
    assert words in result.err
    assert "hint:" in result.err
    assert "Traceback" not in result.err and "unexpected" not in result.err


def test_entry_point_linked_out_of_the_source_dir_is_refused(cli: Cli, root: Path) -> None:
    source = root / "project" / "linked"
    source.mkdir(exist_ok=True)
    outside = root / "outside.py"
    outside.write_text("print('never packed')\n")
    link = source / "train.py"
    if not link.is_symlink():
        link.symlink_to(outside)
    result = cli("fit", "--entry-point", "train.py", "--source-dir", "linked", "--channel", "train=data")
    assert result.code == 2 and "outside" in result.err and "Traceback" not in result.err
    assert not (root / "project" / ".smtrain" / "jobs").exists()


# -- the local client refuses what boto3 or the service would ------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Any:
    from smtrain.backends.local.service import LocalSageMaker
    from smtrain.backends.local.store.home import LocalHome

    return LocalSageMaker(LocalHome(tmp_path / "home"))


def training_request(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    request: dict[str, Any] = {
        "TrainingJobName": "job-1",
        "AlgorithmSpecification": {"TrainingImage": "smtrain-local/sklearn", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::000000000000:role/smtrain-local",
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": data.as_uri()}}}],
        "OutputDataConfig": {"S3OutputPath": (tmp_path / "out").as_uri()},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        "HyperParameters": {"sagemaker_program": '"train.py"'},
    }
    for path, value in changes.items():
        *parents, last = path.split(".")
        target = request
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = value
    return request


def channel(name: str) -> Callable[[Path], list[dict[str, Any]]]:
    return lambda tmp: [{"ChannelName": name, "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": tmp.as_uri()}}}]


# (id, operation, params (a function of tmp_path), expected error, words)
CLIENT_CASES: list[tuple[str, str, Callable[[Path], dict[str, Any]], type[Exception], str]] = [
    ("unknown-parameter", "list_training_jobs", lambda t: {"BogusParam": 1}, ParamValidationError,
     'Unknown parameter in input: "BogusParam"'),
    ("wrong-type", "describe_endpoint", lambda t: {"EndpointName": 123}, ParamValidationError,
     "Invalid type for parameter EndpointName"),
    ("none-name", "describe_model", lambda t: {"ModelName": None}, ParamValidationError, "Invalid type"),
    ("missing-required", "stop_training_job", lambda t: {}, ParamValidationError,
     'Missing required parameter in input: "TrainingJobName"'),
    ("max-results-0", "list_training_jobs", lambda t: {"MaxResults": 0}, ParamValidationError, "valid min value: 1"),
    ("max-results-101", "list_endpoints", lambda t: {"MaxResults": 101}, ClientError,
     "Member must have value less than or equal to 100"),
    ("describe-traversal", "describe_training_job", lambda t: {"TrainingJobName": "../x"}, ClientError,
     "regular expression pattern"),
    ("model-underscore", "create_model", lambda t: {"ModelName": "a_b", "PrimaryContainer": {"Image": "i"}},
     ClientError, "at 'modelName' failed to satisfy constraint"),
    ("config-64-chars", "create_endpoint_config", lambda t: {
        "EndpointConfigName": "c" * 64, "ProductionVariants": [{"VariantName": "v", "ModelName": "m"}]},
     ClientError, "length less than or equal to 63"),
    ("endpoint-traversal", "create_endpoint", lambda t: {"EndpointName": "../..", "EndpointConfigName": "c"},
     ClientError, "at 'endpointName'"),
    ("group-traversal", "create_model_package_group", lambda t: {"ModelPackageGroupName": "../g"},
     ClientError, "at 'modelPackageGroupName'"),
    ("serverless-memory", "create_endpoint_config", lambda t: {
        "EndpointConfigName": "c", "ProductionVariants": [{"VariantName": "v", "ModelName": "m", "ServerlessConfig": {
            "MemorySizeInMB": 99999, "MaxConcurrency": 1}}]},
     ClientError, "less than or equal to 6144"),
    ("hp-101", "create_training_job", lambda t: training_request(
        t, HyperParameters={"sagemaker_program": '"train.py"', **{f"k{i}": "1" for i in range(100)}}),
     ClientError, "at 'hyperParameters' failed to satisfy constraint: Member must have length less than or equal"),
    ("max-runtime-0", "create_training_job", lambda t: training_request(t, **{
        "StoppingCondition.MaxRuntimeInSeconds": 0}), ParamValidationError, "valid min value: 1"),
    ("instance-count-negative", "create_training_job", lambda t: training_request(t, **{
        "ResourceConfig.InstanceCount": -1}), ParamValidationError, "valid min value: 0"),
    ("channel-dotdot", "create_training_job", lambda t: training_request(t, InputDataConfig=channel("..")(t)),
     ClientError, "ChannelName '..' is not a folder name"),
    ("channel-slash", "create_training_job", lambda t: training_request(t, InputDataConfig=channel("a/b")(t)),
     ClientError, "at 'inputDataConfig.1.member.channelName'"),
    ("metric-regex", "create_training_job", lambda t: training_request(t, **{
        "AlgorithmSpecification.MetricDefinitions": [{"Name": "m", "Regex": "([0-9"}]}),
     ClientError, "Regex does not compile"),
    ("program-absolute", "create_training_job", lambda t: training_request(t, HyperParameters={
        "sagemaker_program": '"/etc/x.py"'}), ClientError, "must be a path inside the source archive"),
    ("program-parent", "create_training_job", lambda t: training_request(t, HyperParameters={
        "sagemaker_program": '"../x.py"'}), ClientError, "must be a path inside the source archive"),
    ("job-name-traversal", "create_training_job", lambda t: training_request(t, TrainingJobName="../../x"),
     ClientError, "at 'trainingJobName'"),
]


@pytest.mark.parametrize(("operation", "params", "error", "words"), [c[1:] for c in CLIENT_CASES],
                         ids=[c[0] for c in CLIENT_CASES])
def test_local_client_refuses_what_boto3_or_sagemaker_would(client: Any, tmp_path: Path, operation: str,
                                                             params: Callable[[Path], dict[str, Any]],
                                                             error: type[Exception], words: str) -> None:
    with pytest.raises(error) as raised:
        getattr(client, operation)(**params(tmp_path))
    assert words in str(raised.value)
    if isinstance(raised.value, ClientError):
        assert raised.value.response["Error"]["Code"] == "ValidationException"
    home = tmp_path / "home"
    assert all(p.name.startswith("state.db") for p in home.iterdir())  # the index only: no job or endpoint folder
    for kind in ("training-job", "model", "endpoint-config", "endpoint", "model-package-group"):
        assert client.db.list(kind) == []


def test_positional_arguments_are_refused_as_boto3_does(client: Any) -> None:
    with pytest.raises(TypeError, match="only accepts keyword arguments"):
        client.describe_model("m")


def test_python_api_refuses_the_same_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smtrain.api.session import Session
    from smtrain.core.errors import UsageError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="invalid prefix"):
        Session(home=str(tmp_path / "h"), prefix="../..")
    session = Session(home=str(tmp_path / "h"), quiet=True)
    (tmp_path / "train.py").write_text("print(1)\n")
    with pytest.raises(UsageError, match="at least 1"):
        session.fit("train.py", source_dir=tmp_path, channels={"train": str(tmp_path)}, instance_count=0)
    with pytest.raises(UsageError, match="reserved"):
        session.fit("train.py", source_dir=tmp_path, channels={"train": str(tmp_path)},
                    hyperparameters={"sagemaker_region": "x"})
    with pytest.raises(UsageError, match="invalid dataset name"):
        session.prepare(name="../escape")
    assert not (tmp_path / "h" / "jobs").exists() and not (tmp_path / "h" / "store").exists()

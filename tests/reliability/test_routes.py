"""The routes besides packing: data channels synced to S3 (moto) or the local store, channels copied
into a local job, and model or code folders copied into a local endpoint. Each follows the packing
policy: no ``.env``, no link followed out of the folder, never the smtrain home; a link to a file
inside ships as a regular file; every path left out is a warning naming it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smtrain.backends.local.service import LocalSageMaker
from smtrain.backends.local.store.home import LocalHome
from smtrain.core.errors import UsageError
from smtrain.files.sync import list_files, make_target, sync_directory
from tests.e2e.conftest import Cli
from tests.helpers import create_folder_model, remove_local_endpoints

BUCKET = "routes-bucket"
REGION = "eu-west-1"
SECRET = "AWS_SECRET_ACCESS_KEY=do-not-ship"
SHIPPED = {".env.example": b"KEY=\n", "alias.csv": b"1,2\n", "sub/part.csv": b"3,4\n", "train.csv": b"1,2\n"}


def plant(data: Path) -> Path:
    """A data folder with secrets, links out of it, a folder link, a dangling link and an smtrain home."""
    (data / "sub").mkdir(parents=True)
    (data.parent / "outside.csv").write_text("outside the data folder")
    (data / "train.csv").write_text("1,2\n")
    (data / "sub" / "part.csv").write_text("3,4\n")
    (data / ".env").write_text(SECRET)
    (data / "sub" / ".env.local").write_text(SECRET)
    (data / ".env.example").write_text("KEY=\n")
    (data / "cache" / "jobs").mkdir(parents=True)  # laid out as an smtrain home, under another name
    (data / "cache" / "state.db").write_text("other jobs' --env values")
    links = {"passwd": "/etc/passwd", "up.csv": "../outside.csv", "alias.csv": "train.csv", "config.txt": ".env",
             "subdir": "sub", "dangling": "missing"}
    for name, target in links.items():
        os.symlink(target, data / name)
    return data


def expected_warnings(data: Path, *homes: str) -> list[str]:
    """The warnings for :func:`plant`'s folder; ``homes``: more smtrain homes inside it."""
    root = data.resolve()
    secret = "secret (.env files never ship)"
    reasons = {
        **{home: "smtrain home (SMTRAIN_HOME)" for home in ("cache/", *homes)},
        ".env": secret,
        "config.txt": f"link to .env, which is left out: {secret}",
        "dangling": "dangling or looping link (-> missing)",
        "passwd": f"link to /etc/passwd, outside {root}",
        "sub/.env.local": secret,
        "subdir": "link to a folder (-> sub); links to folders are not followed",
        "up.csv": f"link to ../outside.csv, outside {root}",
    }
    return [f"warning: left out {root / name}: {reason}" for name, reason in sorted(reasons.items())]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return plant(tmp_path / "project" / "data")


# -- sync_directory: S3 (moto in process) and the local store --------------------------------------


def test_s3_sync_sends_exactly_the_policy_files(data: Path) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)

        report = sync_directory(data, f"s3://{BUCKET}/d/", s3=s3, progress=False, kms_key="")
        again = sync_directory(data, f"s3://{BUCKET}/d/", s3=s3, progress=False)

        objects = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
        stored = {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in objects}
    assert stored == {f"d/{name}": content for name, content in SHIPPED.items()}
    assert report.warnings == expected_warnings(data)
    assert (report.uploaded_files, again.uploaded_files, again.unchanged_files) == (4, 0, 4)
    assert again.warnings == report.warnings


def test_store_sync_copies_regular_files_only(data: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"

    report = sync_directory(data, store.as_uri() + "/", progress=False, home=data / "cache")

    assert files_under(store) == SHIPPED
    assert report.warnings == expected_warnings(data)


def test_a_file_swapped_for_a_link_after_the_scan_is_refused(data: Path, tmp_path: Path) -> None:
    files, _ = list_files(data)
    [train] = [file for file in files if file.relative == "train.csv"]
    (data / "train.csv").unlink()
    os.symlink("/etc/passwd", data / "train.csv")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        targets = [make_target(f"s3://{BUCKET}/d/", s3=s3), make_target((tmp_path / "store").as_uri() + "/")]
        for target in targets:
            with pytest.raises(UsageError, match=r"cannot read train\.csv"):
                target.put(train, lambda _: None)
        assert s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []
    assert not (tmp_path / "store" / "train.csv").exists()


def files_under(root: Path) -> dict[str, bytes]:
    """Every path under ``root``; each must be a regular file (no link survives a copy)."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        assert path.is_file() and not path.is_symlink(), path
        found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


# -- the CLI: local backend --------------------------------------------------------------------------

TRAIN = '''
import json, os
channel = os.environ["SM_CHANNEL_TRAIN"]
seen = sorted(os.path.relpath(os.path.join(d, f), channel) for d, _, fs in os.walk(channel) for f in fs)
open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w").write(json.dumps(seen))
open(os.path.join(channel, "alias.csv"), "w").write("written by the job")
open(os.path.join(channel, "new.csv"), "w").write("written by the job")
print("trained")
'''


@pytest.fixture
def project(data: Path) -> Path:
    src = data.parent / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    return data.parent


def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env["SMTRAIN_HOME"] = str(home)
    return env


@pytest.fixture
def local(project: Path) -> Iterator[Cli]:
    runner = Cli(project, cli_env(project / "data" / "runs"))  # the home inside the data folder
    yield runner
    runner("teardown", "--all")


def test_local_fit_copies_the_channel_under_the_policy_and_never_writes_to_it(local: Cli, project: Path) -> None:
    data = project / "data"
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file() and "runs" not in p.parts}

    fit = local("fit", "--entry-point", "train.py", "--source-dir", "src", "--channel", "train=data",
                "--job-name", "routes", "--json")

    assert fit.code == 0, fit.err
    assert fit.json()["TrainingJobStatus"] == "Completed"
    seen = model_file(fit.json(), "seen.json")
    assert seen == sorted(SHIPPED)  # the script saw exactly the policy files: the home is not there either
    log = local("logs", "routes").out  # the job's log goes to stdout
    assert [line.partition("smtrain INFO     ")[2] for line in log.splitlines() if "left out" in line] == \
        expected_warnings(data, "runs/")
    # The job wrote to its copy: the user's folder is unchanged, links included.
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file() and "runs" not in p.parts} == before
    assert os.readlink(data / "alias.csv") == "train.csv" and not (data / "new.csv").exists()
    assert (project / "outside.csv").read_text() == "outside the data folder"


def model_file(description: dict[str, Any], name: str) -> Any:
    import json
    import tarfile

    model = Path(description["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("file://"))
    with tarfile.open(model) as tar:
        return json.loads(tar.extractfile(name).read())  # type: ignore[union-attr]


def test_local_prepare_syncs_only_what_it_wrote(local: Cli, project: Path, tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    csv.write_text("x,y\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(20)))
    out = project / "data" / "prepared"

    result = local("prepare", "--csv", str(csv), "--target", "y", "--out", str(out), "--name", "rows")

    assert result.code == 0, result.err
    store = project / "data" / "runs" / "store"
    assert sorted(files_under(store)) == ["smtrain/data/rows/test/X_test.csv", "smtrain/data/rows/test/y_test.csv",
                                          "smtrain/data/rows/train/X_train.csv",
                                          "smtrain/data/rows/train/y_train.csv"]
    assert "warning" not in result.err


# -- the CLI: SageMaker backend against a moto server -------------------------------------------------


@pytest.fixture
def sagemaker(project: Path, moto_url: str) -> Iterator[tuple[Cli, Any]]:
    env = cli_env(project / "data" / "runs")
    (project / "data" / "runs").mkdir()
    (project / "data" / "runs" / "settings.json").write_text("{}")  # the home, whatever its content
    (project / "empty").write_text("")
    env.update(
        AWS_ENDPOINT_URL=moto_url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=str(project / "empty"),
        AWS_SHARED_CREDENTIALS_FILE=str(project / "empty"), SMTRAIN_BACKEND="sagemaker",
        SMTRAIN_ROLE="arn:aws:iam::123456789012:role/SageMakerExecutionRole", SMTRAIN_BUCKET=BUCKET,
        SMTRAIN_POLL_SECONDS="0", XDG_CACHE_HOME=str(project / "cache-home"),
    )
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_url, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield Cli(project, env), s3
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BUCKET)


def stored(s3: Any, prefix: str) -> dict[str, bytes]:
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in objects}


def test_sagemaker_fit_uploads_exactly_the_policy_files(sagemaker: tuple[Cli, Any], project: Path) -> None:
    cli, s3 = sagemaker

    fit = cli("fit", "--entry-point", "train.py", "--source-dir", "src", "--channel", "train=data",
              "--job-name", "routes-sm", "--json")

    assert fit.code == 0, fit.err
    channel_uri = fit.json()["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert channel_uri.startswith("s3://") and channel_uri.endswith("/train/")
    assert stored(s3, channel_uri.split("/", 3)[3]) == SHIPPED
    assert [line for line in fit.err.splitlines() if "left out" in line] == expected_warnings(project / "data", "runs/")
    assert "do-not-ship" not in str(stored(s3, ""))


def test_sagemaker_prepare_uploads_only_the_split(sagemaker: tuple[Cli, Any], tmp_path: Path, project: Path) -> None:
    cli, s3 = sagemaker
    csv = tmp_path / "rows.csv"
    csv.write_text("x,y\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(20)))

    result = cli("prepare", "--csv", str(csv), "--target", "y", "--out", str(project / "data" / "prepared"),
                 "--name", "rows")

    assert result.code == 0, result.err
    assert sorted(stored(s3, "smtrain/data/rows/")) == ["test/X_test.csv", "test/y_test.csv", "train/X_train.csv",
                                                       "train/y_train.csv"]


# -- local endpoints: model and code given as folders --------------------------------------------------

SERVE = '''
import os


def model_fn(model_dir):
    return sorted(os.listdir(model_dir))


def predict_fn(data, model):
    return model
'''


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSageMaker]:
    monkeypatch.delenv("SMTRAIN_RUNTIME_PORT", raising=False)
    sm = LocalSageMaker(LocalHome(tmp_path / "home"))
    yield sm
    remove_local_endpoints(sm)


def test_a_model_and_code_folder_deploy_without_their_outside_links(service: LocalSageMaker, tmp_path: Path) -> None:
    model, code = tmp_path.resolve() / "model", tmp_path.resolve() / "code"
    model.mkdir()
    code.mkdir()
    (tmp_path / "id_rsa").write_text("PRIVATE KEY")
    (model / "weights.bin").write_bytes(b"w")
    (code / "serve.py").write_text(SERVE)
    (code / ".env").write_text(SECRET)
    for folder in (model, code):
        os.symlink("/etc/passwd", folder / "passwd")
        os.symlink("../id_rsa", folder / "key")
    os.symlink("weights.bin", model / "alias.bin")
    create_folder_model(service, "folders", model, code, "serve.py")
    service.create_endpoint(EndpointName="folders", EndpointConfigName="folders")

    assert settled(service, "folders") == "InService"

    [root] = list((tmp_path / "home" / "endpoints" / "folders").glob("v*"))
    assert files_under(root / "model") == {"alias.bin": b"w", "weights.bin": b"w"}
    assert files_under(root / "code") == {"serve.py": SERVE.encode()}
    log = (tmp_path / "home" / "endpoints" / "folders" / "server.log").read_text()
    for folder in (model, code):
        assert f"warning: left out {folder / 'passwd'}: link to /etc/passwd, outside {folder}" in log
        assert f"warning: left out {folder / 'key'}: link to ../id_rsa, outside {folder}" in log
    assert f"warning: left out {code / '.env'}: secret" in log


def settled(sm: LocalSageMaker, name: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = str(sm.describe_endpoint(EndpointName=name)["EndpointStatus"])
        if status in ("InService", "Failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_plan_fit_lists_what_a_channel_folder_leaves_out(local: Cli, project: Path) -> None:
    root = (project / "data").resolve()

    plan = local("plan", "fit", "--entry-point", "train.py", "--source-dir", "src", "--channel", "train=data")

    assert plan.code == 0, plan.err
    listed = [line for line in plan.err.splitlines() if line.startswith("channel train:")]
    assert listed[0] == f"channel train: 4 file(s) packed from {root}, 8 path(s) left out"
    assert f"channel train:   left out passwd: link to /etc/passwd, outside {root}" in listed
    assert "channel train:   left out sub/.env.local: secret (.env files never ship)" in listed

"""Check, reserve, then upload: a submission never writes under a name that belongs to another job."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from smtrain.api.session import Session
from smtrain.aws.session import AwsSession
from smtrain.backends.sagemaker import SageMakerBackend
from smtrain.core.config import Config
from smtrain.core.errors import AwsError
from tests.helpers import reset_moto

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
BUCKET = "names-bucket"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print('mine')\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("a\n1\n")
    return tmp_path


# -- SageMaker: DescribeTrainingJob before any upload -------------------------------------------


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every API call any client makes, in order (recorded by a botocore event hook)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield []
    reset_moto(moto_url)


def sagemaker_session(calls: list[str]) -> Session:
    boto = boto3.session.Session(region_name=REGION)
    boto.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    config = Config(backend="sagemaker", region=REGION, role=ROLE, bucket=BUCKET)
    session = Session(quiet=True, backend="sagemaker", region=REGION, role=ROLE, bucket=BUCKET)
    session.backend = SageMakerBackend(config, session=AwsSession(region=REGION, boto_session=boto),
                                       sleep=lambda _: None)
    return session


def keys() -> list[str]:
    listing = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)
    return [item["Key"] for item in listing.get("Contents", [])]


def create_job(name: str) -> None:
    boto3.client("sagemaker", region_name=REGION).create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "image", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/out/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )


def test_sagemaker_asks_whether_the_job_exists_before_uploading(aws: list[str], project: Path) -> None:
    session = sagemaker_session(aws)
    session.fit("train.py", source_dir=project / "src", channels={"train": str(project / "data")},
                job_name="fresh", wait=False)
    uploads = [i for i, name in enumerate(aws) if name in ("PutObject", "CreateMultipartUpload")]
    assert uploads, aws
    assert aws.index("DescribeTrainingJob") < uploads[0] < aws.index("CreateTrainingJob")
    assert all(key.startswith("smtrain/fresh/") for key in keys())


def test_sagemaker_refuses_a_taken_name_before_uploading_anything(aws: list[str], project: Path) -> None:
    create_job("taken")
    session = sagemaker_session(aws)
    with pytest.raises(AwsError, match="a training job named 'taken' already exists") as error:
        session.fit("train.py", source_dir=project / "src", channels={"train": str(project / "data")},
                    job_name="taken", wait=False)
    assert error.value.code == "ResourceInUse" and "choose another --job-name" in error.value.hint
    assert aws == ["DescribeTrainingJob"]  # nothing uploaded, nothing created
    assert keys() == []


# -- local: the reservation in state.db --------------------------------------------------------------


def local_session(project: Path) -> Session:
    return Session(quiet=True, home=str(project / ".smtrain"))


def fit_local(session: Session, project: Path, **options: Any) -> Any:
    return session.fit("train.py", source_dir=project / "src", channels={"train": str(project / "data")},
                       job_name="j1", **options)


def test_a_failed_submission_gives_its_name_back(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = local_session(project)

    def interrupted(*_: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(session.backend, "upload_source", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit_local(session, project)
    assert session.backend.sagemaker().db.get("training-job", "j1") is None  # released: not burnt
    assert not (project / ".smtrain" / "store" / "smtrain" / "j1").exists()

    monkeypatch.undo()
    job = fit_local(local_session(project), project)
    assert job.status == "Completed"


def test_a_refused_create_leaves_no_archive_behind(project: Path) -> None:
    session = local_session(project)
    with pytest.raises(AwsError, match="needs Docker"):
        fit_local(session, project, image_uri="123456789012.dkr.ecr.eu-west-1.amazonaws.com/mine:1")
    assert session.backend.sagemaker().db.get("training-job", "j1") is None
    assert list((project / ".smtrain" / "store" / "smtrain").iterdir()) == []


def test_a_reservation_hides_from_describe_and_list(project: Path) -> None:
    sm = local_session(project).backend.sagemaker()
    sm.reserve_training_job("j1")
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []
    with pytest.raises(Exception, match="Requested resource not found"):
        sm.describe_training_job(TrainingJobName="j1")
    other = local_session(project).backend.sagemaker()  # another submitter
    with pytest.raises(Exception, match="already exists or is being submitted"):
        other.reserve_training_job("j1")
    sm.release_training_job("j1")
    other.reserve_training_job("j1")  # free again


def test_a_reservation_left_by_a_dead_process_is_taken_over(project: Path) -> None:
    home = project / ".smtrain"
    code = ("import sys; from pathlib import Path; from smtrain.backends.local.store.home import LocalHome; "
            "from smtrain.backends.local.service import LocalSageMaker; "
            "LocalSageMaker(LocalHome(Path(sys.argv[1]))).reserve_training_job('j1')")
    subprocess.run([sys.executable, "-c", code, str(home)], check=True, timeout=60)  # reserves, then dies
    assert local_session(project).backend.sagemaker().db.get("training-job", "j1") is not None
    assert fit_local(local_session(project), project).status == "Completed"


def test_a_job_folder_without_a_record_is_never_reused(project: Path) -> None:
    """The state DB lost the job (emptied, rebuilt): its folder still belongs to it."""
    local_session(project).backend.sagemaker().list_training_jobs()  # an index exists, without j1
    folder = project / ".smtrain" / "jobs" / "j1"
    folder.mkdir(parents=True)
    (folder / "job.log").write_text("an earlier job's log\n")
    with pytest.raises(AwsError, match=r"already exists .* but the store's index has no record of it") as error:
        fit_local(local_session(project), project)
    assert error.value.code == "ResourceInUse"
    assert [p.name for p in folder.iterdir()] == ["job.log"]
    assert (folder / "job.log").read_text() == "an earlier job's log\n"
    assert not (project / ".smtrain" / "store").exists()  # nothing uploaded

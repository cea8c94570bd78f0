"""The planner is pure: the same spec gives the same requests, with no I/O."""

from pathlib import Path

from smtrain.core.config import Config
from smtrain.planning.plan import plan_deploy, plan_fit, plan_teardown
from smtrain.planning.spec import DeploySpec, TrainingSpec
from smtrain.planning.steps import ApiCall, Ref, Upload, Wait, method_name, resolve

ROOT = "file:///home/u/.smtrain/store/smtrain"


def spec(tmp_path: Path, **kwargs: object) -> TrainingSpec:
    return TrainingSpec(
        entry_point="train.py",
        source_dir=tmp_path,
        channels={"train": str(tmp_path), "test": "file:///data/test/"},
        hyperparameters={"C": 0.5, "criterion": "gini"},
        job_name="job-1",
        submission_id="s1",
        **kwargs,  # type: ignore[arg-type]
    )


def test_local_fit_plan(tmp_path: Path) -> None:
    plan = plan_fit(spec(tmp_path), Config(), root=ROOT, image_uri="img", role="role")
    upload, create, wait = plan
    source = f"{ROOT}/job-1/source/s1/sourcedir.tar.gz"  # each submission uploads under its own id
    assert upload == Upload("upload-source", "source", str(tmp_path), source, "train.py")
    assert isinstance(create, ApiCall) and create.operation == "CreateTrainingJob"
    request = dict(create.params)
    assert request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == tmp_path.resolve().as_uri()
    assert request["InputDataConfig"][1]["DataSource"]["S3DataSource"]["S3Uri"] == "file:///data/test/"
    assert request["HyperParameters"] == {
        "C": "0.5",
        "criterion": '"gini"',
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": f'"{ROOT}/job-1/source/s1/sourcedir.tar.gz"',
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": '"job-1"',
        "sagemaker_region": '"us-east-1"',
    }
    assert request["ResourceConfig"]["InstanceType"] == "local"
    assert request["OutputDataConfig"] == {"S3OutputPath": f"{ROOT}/output/"}
    assert request["Tags"] == [{"Key": "smtrain:managed", "Value": "true"}]
    assert isinstance(wait, Wait) and wait.success == ("Completed",)


def test_metric_definitions_and_environment(tmp_path: Path) -> None:
    plan = plan_fit(spec(tmp_path, metric_definitions={"acc": "acc=([0-9.]+)"}, environment={"A": "1"}),
                    Config(), root=ROOT, image_uri="img", role="role")
    request = plan[1].params  # type: ignore[union-attr]
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == [{"Name": "acc", "Regex": "acc=([0-9.]+)"}]
    assert request["Environment"] == {"A": "1"}


def test_deploy_plan_uses_the_training_artifact() -> None:
    plan = plan_deploy(DeploySpec(job_name="job-1"), Config(), image_uri="img", role="role",
                       model_data=Ref("training-done", "ModelArtifacts.S3ModelArtifacts"),
                       program="serve.py", submit_directory="file:///src.tar.gz")
    model, config, endpoint, wait = plan
    assert model.params["ModelName"] == "job-1"  # type: ignore[union-attr]
    assert model.params["PrimaryContainer"]["Environment"] == {  # type: ignore[union-attr]
        "SAGEMAKER_PROGRAM": "serve.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "file:///src.tar.gz",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": "us-east-1",
    }
    assert config.params["ProductionVariants"][0]["InstanceType"] == "local"  # type: ignore[union-attr]
    assert endpoint.operation == "CreateEndpoint"  # type: ignore[union-attr]
    assert wait.success == ("InService",)  # type: ignore[union-attr]
    results = {"training-done": {"ModelArtifacts": {"S3ModelArtifacts": "file:///m.tar.gz"}}}
    assert resolve(model.params, results)["PrimaryContainer"]["ModelDataUrl"] == "file:///m.tar.gz"  # type: ignore[union-attr]


def test_update_names_new_resources_apart() -> None:
    plan = plan_deploy(DeploySpec(job_name="j", endpoint_name="ep"), Config(), image_uri="i", role="r",
                       model_data="m", program="p", submit_directory="s", update=True, suffix="2026-01-01")
    assert plan[0].params["ModelName"] == "ep-2026-01-01"  # type: ignore[union-attr]
    assert plan[2].operation == "UpdateEndpoint"  # type: ignore[union-attr]
    assert plan[2].params == {"EndpointName": "ep", "EndpointConfigName": "ep-2026-01-01"}  # type: ignore[union-attr]


def test_teardown_order() -> None:
    operations = [step.operation for step in plan_teardown("ep", "cfg", ["m1"])]  # type: ignore[union-attr]
    assert operations == ["DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"]


def test_snake_case() -> None:
    assert method_name("CreateTrainingJob") == "create_training_job"
    assert method_name("ListTags") == "list_tags"


def test_each_submission_uploads_under_its_own_key(tmp_path: Path) -> None:
    """Two submissions with one job name never share an upload key (a racing loser overwrites nothing)."""
    first = TrainingSpec(entry_point="train.py", source_dir=tmp_path, channels={"train": "file:///d/"}, job_name="j")
    second = TrainingSpec(entry_point="train.py", source_dir=tmp_path, channels={"train": "file:///d/"}, job_name="j")
    uploads = [plan_fit(s, Config(), root=ROOT, image_uri="i", role="r")[0] for s in (first, second)]
    assert first.submission_id != second.submission_id
    assert uploads[0].uri != uploads[1].uri  # type: ignore[union-attr]
    assert all(u.uri.startswith(f"{ROOT}/j/source/") for u in uploads)  # type: ignore[union-attr]

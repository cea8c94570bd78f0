"""Scripts written for the scikit-learn image, run unchanged through fit, deploy and boto3's runtime.

The fixtures under tests/fixtures/parity/ are rewritten after published AWS
examples (amazon-sagemaker-examples, aws-samples/amazon-sagemaker-local-mode):
they import the image's own toolkits, return what the image's serving layer
accepts, and read the image's variables at import time. They run on the fast
path (this environment's scikit-learn has the default image's major.minor) with
the image's toolkits layered on, built once per run under a shared cache.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from smtrain.api.session import Session
from smtrain.backends.local.environments import frameworks
from smtrain.backends.local.jobs import sandbox

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "parity"


@pytest.fixture(scope="session")
def framework_cache(request: pytest.FixtureRequest) -> Path:
    """Framework environments kept in pytest's cache directory: the toolkit overlay is built once, not per run."""
    return Path(request.config.cache.mkdir("smtrain-frameworks"))


@pytest.fixture
def session(home: Path, framework_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    monkeypatch.setenv(frameworks.CACHE_VARIABLE, str(framework_cache))
    monkeypatch.delenv("SMTRAIN_RUNTIME_PORT", raising=False)
    session = Session(quiet=True)
    yield session
    for endpoint in session.list_endpoints():
        session.teardown(endpoint["EndpointName"])


def source(tmp_path: Path, script: str) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    shutil.copy(FIXTURES / script, folder / script)
    return folder


def runtime(session: Session) -> Any:
    return boto3.client("sagemaker-runtime", endpoint_url=session.backend.runtime_url(), region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))


def fit_and_deploy(session: Session, tmp_path: Path, script: str, channels: dict[str, str],
                   **hyperparameters: Any) -> dict[str, Any]:
    job = session.fit(script, source_dir=source(tmp_path, script), channels=channels,
                      hyperparameters=hyperparameters, logs=False)
    log = session.backend.home.job_log(job.name).read_text()  # type: ignore[attr-defined]
    assert job.status == "Completed", log
    endpoint = session.deploy(job.name)
    assert endpoint.status == "InService"
    return job.description


def invoke(session: Session, name: str, body: str, content_type: str, accept: str) -> tuple[str, str]:
    answer = runtime(session).invoke_endpoint(EndpointName=name, Body=body.encode(), ContentType=content_type,
                                              Accept=accept)
    return answer["Body"].read().decode(), answer["ContentType"]


def write_csv(folder: Path, text: str, name: str = "train.csv") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return str(folder)


def test_a_featurizer_importing_sagemaker_containers_answers_with_worker_response(
    session: Session, tmp_path: Path
) -> None:
    kinds = "MFI" * 10
    rows = "".join(f"{kind},{i * 0.5},{i * 1.5},{i % 7},{i % 3}\n" for i, kind in enumerate(kinds))
    description = fit_and_deploy(session, tmp_path, "featurizer.py", {"train": write_csv(tmp_path / "d", rows)})
    name = description["TrainingJobName"]

    body, content_type = invoke(session, name, "M,1.0,2.0,3\nF,0.5,1.0,1\n", "text/csv", "application/json")
    instances = json.loads(body)["instances"]
    assert content_type.startswith("application/json")
    assert len(instances) == 2 and len(instances[0]["features"]) == 3 + 3  # scaled numbers + one-hot kinds

    body, content_type = invoke(session, name, "I,1.0,2.0,3,1\n", "text/csv", "text/csv")
    assert content_type.startswith("text/csv")
    assert body.split(",")[0].strip() == "1.0"  # the label goes first, as the script inserts it
    assert description[
        "SmtrainEnvironment"]["Libraries"]["sagemaker-containers"] == "2.8.6.post2"


def test_a_script_mode_forest_reads_its_job_through_sagemaker_training(session: Session, tmp_path: Path) -> None:
    rows = "a,b,target\n" + "".join(f"{i},{i % 5},{i * 2 + i % 5}\n" for i in range(40))
    description = fit_and_deploy(session, tmp_path, "forest_toolkit.py", {"train": write_csv(tmp_path / "d", rows)},
                                 **{"n-estimators": 5})

    job_dir = session.backend.home.job_dir(description["TrainingJobName"])  # type: ignore[attr-defined]
    seen = json.loads((job_dir / "output" / "data" / "toolkit.json").read_text())
    # The job's tree, which it sees at /opt/ml where it has a namespace of its own (see test_job_namespace.py).
    visible = Path("/opt/ml") if sandbox.namespace().active else job_dir
    assert seen["model_dir"] == str(visible / "model")
    assert seen["channel_input_dirs"] == {"train": str(visible / "input" / "data" / "train")}
    assert seen["hyperparameters"] == {"n-estimators": 5}
    assert seen["job_name"] == description["TrainingJobName"]
    body, _ = invoke(session, description["TrainingJobName"], "3,3\n", "text/csv", "application/json")
    assert len(json.loads(body)) == 1
    assert description["SmtrainEnvironment"]["Libraries"]["sagemaker-training"] == "4.8.0"


def test_an_output_fn_returning_a_dict_answers_200_json(session: Session, tmp_path: Path) -> None:
    rows = "x,y,target\n" + "".join(f"{i},{-i},{int(i > 9)}\n" for i in range(20))
    description = fit_and_deploy(session, tmp_path, "dict_output.py", {"train": write_csv(tmp_path / "d", rows)},
                                 max_leaf_nodes=4)

    body, content_type = invoke(session, description["TrainingJobName"], '{"Input": [15, -15]}',
                                "application/json", "application/json")
    assert (json.loads(body), content_type) == ({"Output": 1}, "application/json")


def test_a_script_reading_the_image_variables_at_import_trains_and_serves_without_channels(
    session: Session, tmp_path: Path
) -> None:
    description = fit_and_deploy(session, tmp_path, "import_time_env.py", {})
    assert "InputDataConfig" not in description

    body, _ = invoke(session, description["TrainingJobName"], "[[1, 2]]", "application/json", "application/json")
    answer = json.loads(body)
    trained, served = answer["trained"], answer["served"]
    job_dir = session.backend.home.job_dir(description["TrainingJobName"])  # type: ignore[attr-defined]
    if sandbox.namespace().active:  # the script saw its folder at /opt/ml (see test_job_namespace.py)
        job_dir = Path("/opt/ml")
    assert trained["channels"] == []
    assert trained["settings"] == {
        "SM_INPUT": str(job_dir / "input"),
        "SM_INPUT_TRAINING_CONFIG_FILE": str(job_dir / "input" / "config" / "hyperparameters.json"),
        "SM_INPUT_DATA_CONFIG_FILE": str(job_dir / "input" / "config" / "inputdataconfig.json"),
        "SM_CHECKPOINT_CONFIG_FILE": str(job_dir / "input" / "config" / "checkpointconfig.json"),
        "PYTHONIOENCODING": "UTF-8", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "SAGEMAKER_BASE_DIR": str(job_dir),
    }
    assert trained["stdout_encoding"].lower().replace("-", "") == "utf8"
    assert Path(served["model_dir"]).name == "model" and Path(served["model_dir"]).is_dir()
    assert served["settings"]["LC_ALL"] == "C.UTF-8"


def test_the_job_record_says_which_libraries_ran(session: Session, tmp_path: Path) -> None:
    description = fit_and_deploy(session, tmp_path, "import_time_env.py", {})
    environment = description["SmtrainEnvironment"]

    assert environment["FrameworkVersion"] == frameworks.default_version()
    assert environment["Environment"] == "matched"
    image = frameworks.table()[environment["FrameworkVersion"]]
    assert frameworks.major_minor(environment["Libraries"]["scikit-learn"]) == frameworks.major_minor(
        image.pinned("scikit-learn"))
    body, _ = invoke(session, description["TrainingJobName"], "[[1, 2]]", "application/json", "application/json")
    answer = json.loads(body)
    assert answer["trained"]["sklearn"] == answer["served"]["sklearn"] == environment["Libraries"]["scikit-learn"]
    listed = {job["TrainingJobName"]: job for job in session.list_jobs()}
    assert listed[description["TrainingJobName"]]["SmtrainEnvironment"] == environment

"""The workflow through the CLI on the sagemaker backend, against a moto server.

Every test runs the installed `smtrain` command in a subprocess, as a user
would, with ``AWS_ENDPOINT_URL`` pointing at one ``ThreadedMotoServer`` per
module and dummy credentials. What moto records is checked, not only what
smtrain prints: moto's request recorder keeps every request body, so the
assertions see the exact CreateTrainingJob/CreateModel/... requests.

Where moto differs from SageMaker, and how these tests deal with it:

- training jobs are ``Completed`` the moment they are created, with no
  CloudWatch log: the tests write the log events themselves, and set a job's
  status on moto's model (``training_job``) to see a running or failed job;
- a tuning job is ``Completed`` the moment it is created, with one trial and a canned
  ``BestTrainingJob`` (FakeTrainingJobName), and moto has no ListTrainingJobsForHyperParameterTuningJob:
  the tuning tests check the request, the progress shown and Ctrl-C (a patched moto job stays
  ``InProgress``); `show` of a tuning job is tests/e2e/test_cli_tune.py's, on the local backend;
- moto has no UpdateEndpoint and no StopTrainingJob: ``add_missing_operations``
  adds both, doing what SageMaker's API does to the resource (no more);
- moto accepts any execution role and never throttles: those errors are in
  tests/functional/test_sagemaker_cli_errors.py, with canned AWS answers;
- moto's SageMaker Runtime answers every InvokeEndpoint with a configured
  result (``/moto-api/static/sagemaker/endpoint-results``), whatever the
  endpoint: the test checks the request smtrain sent and prints the answer.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import re
import signal
import subprocess
import tarfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import SMTRAIN, Cli, Result

pytestmark = pytest.mark.e2e

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecutionRole"
BUCKET = "smtrain-e2e"
ROOT = f"s3://{BUCKET}/smtrain"
# Distinctive dummy credentials, so that a test can tell they were never printed.
ACCESS_KEY = "AKIASMTRAINE2EDUMMYK"
SECRET_KEY = "smtrain-e2e-dummy-secret-access-key-0123"
SESSION_TOKEN = "smtrain-e2e-dummy-session-token-4567"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
ROW = "Adelie,Torgersen,39.1,18.7,181.0,3750.0"


# -- the moto server ----------------------------------------------------------------


@dataclass
class Moto:
    url: str
    recording: Path

    def post(self, path: str, payload: Any = None) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        request = urllib.request.Request(f"{self.url}{path}", data=data, method="POST")
        urllib.request.urlopen(request).close()

    def reset(self) -> None:
        self.post("/moto-api/reset")
        self.post("/moto-api/recorder/reset-recording")

    def recorded(self) -> list[dict[str, Any]]:
        entries = [json.loads(line) for line in self.recording.read_text().splitlines() if line]
        for entry in entries:
            body = entry.get("body") or ""
            entry["body"] = base64.b64decode(body) if entry.get("body_encoded") else body.encode()
        return entries

    def requests(self, operation: str) -> list[dict[str, Any]]:
        """The bodies of the SageMaker ``operation`` requests moto received, oldest first."""
        target = f"SageMaker.{operation}"
        return [json.loads(entry["body"]) for entry in self.recorded()
                if entry["headers"].get("X-Amz-Target") == target]

    def request(self, operation: str) -> dict[str, Any]:
        (only,) = self.requests(operation)
        return only

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)

    def training_job(self, name: str) -> Any:
        """moto's own record of a training job, to give it a status moto never reaches by itself."""
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[ACCOUNT][REGION].training_jobs[name]


def add_missing_operations(patch: pytest.MonkeyPatch) -> None:
    """UpdateEndpoint and StopTrainingJob, which moto 5.2 lacks, as the service applies them."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    def update_endpoint(self: Any) -> ActionResult:
        backend = self.sagemaker_backend
        name = self._get_param("EndpointName")
        if name not in backend.endpoints:
            raise ValidationError(message=f"Could not find endpoint \"{name}\".")
        config = backend.describe_endpoint_config(self._get_param("EndpointConfigName"))
        endpoint = backend.endpoints[name]
        endpoint.endpoint_config_name = config["EndpointConfigName"]
        endpoint.production_variants = config["ProductionVariants"]
        return ActionResult({"EndpointArn": endpoint.arn})

    def stop_training_job(self: Any) -> ActionResult:
        job = self.sagemaker_backend.training_jobs.get(self._get_param("TrainingJobName"))
        if job is None:
            raise ValidationError(message="Requested resource not found.")
        job.training_job_status = job.secondary_status = "Stopped"
        return ActionResult({})

    for name, method in (("update_endpoint", update_endpoint), ("stop_training_job", stop_training_job)):
        if not hasattr(SageMakerResponse, name):  # a later moto may have its own
            patch.setattr(SageMakerResponse, name, method, raising=False)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    from moto.moto_api import recorder
    from moto.server import ThreadedMotoServer

    recording = tmp_path_factory.mktemp("moto") / "recording.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        # The recorder's file is fixed when moto is imported (MOTO_RECORDER_FILEPATH); keep it out of the repo.
        patch.setattr(recorder, "_location", str(recording))
        add_missing_operations(patch)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        moto = Moto(f"http://{host}:{port}", recording)
        moto.post("/moto-api/recorder/start-recording")
        try:
            yield moto
        finally:
            moto.post("/moto-api/recorder/stop-recording")
            server.stop()


@pytest.fixture
def aws(moto: Moto) -> Iterator[Moto]:
    """An empty account with the bucket smtrain is configured to use."""
    moto.reset()
    moto.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    moto.post("/moto-api/recorder/reset-recording")  # record only what the test does
    yield moto
    moto.reset()


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module: only the first command pays for importing sagemaker.core."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def sm(workdir: Path, aws: Moto, cache_home: Path) -> Cli:
    """`smtrain` configured for the sagemaker backend through the environment, as a user would."""
    (workdir / "entry_points" / ".env").write_text(f"AWS_SECRET_ACCESS_KEY={SECRET_KEY}\n")  # must never ship
    (workdir / "empty").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env.update(
        AWS_ENDPOINT_URL=aws.url, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_SESSION_TOKEN=SESSION_TOKEN, AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(workdir / "empty"), AWS_SHARED_CREDENTIALS_FILE=str(workdir / "empty"),
        SMTRAIN_BACKEND="sagemaker", SMTRAIN_ROLE=ROLE, SMTRAIN_BUCKET=BUCKET, SMTRAIN_HOME=str(workdir / ".smtrain"),
        SMTRAIN_POLL_SECONDS="0",  # moto answers at once; nothing to wait for
        XDG_CACHE_HOME=str(cache_home),
    )
    return Cli(workdir, env)


# -- helpers -----------------------------------------------------------------------------


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    return result


def write_log(aws: Moto, job: str, *messages: str) -> None:
    """Log events the way SageMaker writes them: group /aws/sagemaker/TrainingJobs, one stream per host."""
    logs = aws.client("logs")
    if not logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]:
        logs.create_log_group(logGroupName=LOG_GROUP)
    stream = f"{job}/algo-1-1700000000"
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    start = int(time.time() * 1000)
    events = [{"timestamp": start + i, "message": message} for i, message in enumerate(messages)]
    logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=events)


def create_job(aws: Moto, name: str, tags: list[dict[str, str]] | None = None) -> None:
    """A completed training job made without smtrain (fast, and not tagged by smtrain unless ``tags`` say so)."""
    aws.client("sagemaker").create_training_job(
        TrainingJobName=name, RoleArn=ROLE, Tags=tags or [],
        AlgorithmSpecification={"TrainingImage": "image", "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"penguins.py"',
                         "sagemaker_submit_directory": f'"{ROOT}/{name}/source/sourcedir.tar.gz"'},
        OutputDataConfig={"S3OutputPath": f"{ROOT}/output/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )


def create_endpoint(aws: Moto, name: str, tags: list[dict[str, str]]) -> None:
    sagemaker = aws.client("sagemaker")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": "image", "ModelDataUrl": f"{ROOT}/model.tar.gz"})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags)


def endpoint_names(aws: Moto) -> list[str]:
    return sorted(e["EndpointName"] for e in aws.client("sagemaker").list_endpoints()["Endpoints"])


def tags_of(aws: Moto, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in aws.client("sagemaker").list_tags(ResourceArn=arn)["Tags"]}


def fit_args(job: str, *extra: str) -> list[str]:
    return ["fit", "--entry-point", "penguins.py", "--source-dir", "entry_points",
            "--channel", f"train={ROOT}/data/penguins/train/", "--hp", "target=sex", "--hp", "C=0.5",
            "--job-name", job, *extra]


def assert_clear_error(result: Result, code: int, *phrases: str) -> None:
    assert result.code == code, (result.code, result.err)
    assert result.err.startswith("error: "), result.err
    for phrase in phrases:
        assert phrase in result.err, result.err
    assert "\n  hint: " in result.err
    assert "Traceback" not in result.err


# -- the workflow -------------------------------------------------------------------------


def test_workflow_step_by_step(sm: Cli, aws: Moto) -> None:
    s3 = aws.client("s3")
    data = ok(sm("prepare", "--json")).json()
    assert data["train"] == f"{ROOT}/data/penguins/train/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="smtrain/data/")["Contents"]]
    assert keys == [f"smtrain/data/penguins/{split}/{xy}_{split}.csv" for split in ("test", "train") for xy in "Xy"]
    again = ok(sm("prepare"))
    assert again.err.count("0 bytes uploaded") == 2, again.err  # train and test: nothing changed

    write_log(aws, "penguins-sm", "Invoking script with the following command:", "train_accuracy=0.9512")
    fit = ok(sm(*fit_args("penguins-sm", "--metric-definition", "train:accuracy=train_accuracy=([0-9.]+)",
                          "--json")))
    job = fit.json()
    assert job["TrainingJobStatus"] == "Completed"
    assert "ResponseMetadata" not in job
    assert "Starting - Preparing the instances for training" in fit.err  # status transitions
    assert "train_accuracy=0.9512" in fit.err  # the CloudWatch log, streamed
    assert "penguins-sm: Completed; model: " in fit.err

    request = aws.request("CreateTrainingJob")
    source = json.loads(request["HyperParameters"]["sagemaker_submit_directory"])
    # Each submission uploads under its own id, so it never overwrites another's archive.
    assert re.fullmatch(rf"{ROOT}/penguins-sm/source/[0-9a-f]{{12}}/sourcedir.tar.gz", source)
    assert request["HyperParameters"] == {
        "target": '"sex"', "C": "0.5",
        "sagemaker_program": '"penguins.py"', "sagemaker_submit_directory": json.dumps(source),
        "sagemaker_container_log_level": "20", "sagemaker_job_name": '"penguins-sm"',
        "sagemaker_region": json.dumps(REGION),
    }
    assert {"Key": "smtrain:managed", "Value": "true"} in request["Tags"]
    assert tags_of(aws, job["TrainingJobArn"])["smtrain:managed"] == "true"
    assert request["RoleArn"] == ROLE
    assert request["AlgorithmSpecification"]["TrainingImage"].startswith("141502667606.dkr.ecr.eu-west-1.")
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "train:accuracy", "Regex": "train_accuracy=([0-9.]+)"}]
    assert request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == data["train"]
    archive = s3.get_object(Bucket=BUCKET, Key=source.removeprefix(f"s3://{BUCKET}/"))["Body"].read()
    scripts = sorted(path.name for path in (sm.cwd / "entry_points").glob("*.py"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert sorted(tar.getnames()) == scripts  # and never the .env beside it

    logs = ok(sm("logs", "penguins-sm"))
    assert "train_accuracy=0.9512" in logs.out and "penguins-sm: Completed" in logs.err

    registered = ok(sm("register", "penguins-sm", "--group", "penguins", "--approve", "--json")).json()
    assert registered["ModelApprovalStatus"] == "Approved"
    container = registered["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == job["ModelArtifacts"]["S3ModelArtifacts"]
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "penguins.py"
    second = ok(sm("register", "penguins-sm", "--group", "penguins", "--json")).json()
    assert (second["ModelPackageVersion"], second["ModelApprovalStatus"]) == (2, "PendingManualApproval")
    assert len(aws.requests("CreateModelPackageGroup")) == 1  # the second time, the group existed

    deployed = ok(sm("deploy", "penguins-sm", "--endpoint-name", "penguins-ep", "--json")).json()
    assert deployed == {"EndpointName": "penguins-ep", "EndpointStatus": "InService", "Url": ""}
    model = aws.request("CreateModel")
    assert model["ExecutionRoleArn"] == ROLE
    assert model["PrimaryContainer"]["ModelDataUrl"] == job["ModelArtifacts"]["S3ModelArtifacts"]
    assert model["PrimaryContainer"]["Environment"] == {
        "SAGEMAKER_PROGRAM": "penguins.py", "SAGEMAKER_SUBMIT_DIRECTORY": source,
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": REGION}
    variant = aws.request("CreateEndpointConfig")["ProductionVariants"][0]
    assert (variant["ModelName"], variant["InstanceType"], variant["InitialInstanceCount"]) == (
        "penguins-ep", "ml.m5.large", 1)
    assert {"Key": "smtrain:managed", "Value": "true"} in aws.request("CreateEndpoint")["Tags"]

    updated = ok(sm("deploy", "penguins-sm", "--endpoint-name", "penguins-ep", "--json")).json()
    assert updated["EndpointStatus"] == "InService"
    new_config = aws.request("UpdateEndpoint")["EndpointConfigName"]
    assert new_config.startswith("penguins-ep-")
    sagemaker = aws.client("sagemaker")
    assert sagemaker.describe_endpoint(EndpointName="penguins-ep")["EndpointConfigName"] == new_config
    # The previous version is removed once the endpoint runs on the new one.
    assert [c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]] == [new_config]
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == [new_config]

    aws.post("/moto-api/static/sagemaker/endpoint-results", {"region": REGION, "results": [
        {"Body": '["male"]', "ContentType": "application/json"}]})
    predicted = ok(sm("predict", "penguins-ep", "--body", ROW))
    assert json.loads(predicted.out) == ["male"]
    (invocation,) = [e for e in aws.recorded() if e["url"].endswith("/endpoints/penguins-ep/invocations")]
    assert invocation["body"] == ROW.encode()
    assert invocation["headers"]["Content-Type"] == "text/csv"

    listing = [json.loads(line) for line in ok(sm("ls", "--json")).out.splitlines()]
    assert [run["name"] for run in listing] == ["penguins-sm"]
    table = ok(sm("ls"))
    assert "penguins-sm" in table.out and "C=0.5" in table.out
    shown = json.loads(ok(sm("show", "penguins-sm", "--json")).out)  # Search/Describe, S3 source, CloudWatch
    assert shown["backend"] == "sagemaker" and "penguins.py" in shown["source_files"]
    assert [e["name"] for e in shown["endpoints"]] == ["penguins-ep"]
    assert "estimate" in shown["estimated_cost_note"] or shown["estimated_cost_usd"] is None

    first = ok(sm("teardown", "penguins-ep"))
    assert f"removed Endpoint penguins-ep, EndpointConfig {new_config}, Model {new_config}" in first.err
    assert endpoint_names(aws) == [] and sagemaker.list_models()["Models"] == []
    second_teardown = ok(sm("teardown", "penguins-ep"))
    assert "endpoint penguins-ep is already gone; nothing to remove" in second_teardown.err


def same_but_submission(first: dict[str, Any], second: dict[str, Any]) -> bool:
    def masked(request: dict[str, Any]) -> str:
        return re.sub(r"/(source|input)/[0-9a-f]{12}/", r"/\1/<id>/", json.dumps(request, sort_keys=True))

    return masked(first) == masked(second)


def test_fit_options_no_wait_and_plan_send_the_same_request(sm: Cli, aws: Moto) -> None:
    options = ["--spot", "--max-wait", "7200", "--volume-kms-key", "alias/volume", "--output-kms-key", "alias/out",
               "--subnet", "subnet-1", "--subnet", "subnet-2", "--security-group", "sg-1", "--network-isolation",
               "--env", "FOO=bar", "--instance-type", "ml.c5.xlarge"]
    planned = ok(sm("plan", *fit_args("penguins-opts", *options)))
    assert aws.recorded() == []  # planning sends nothing
    for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
        assert secret not in planned.out and secret not in planned.err
    create = next(step for step in planned.json() if step.get("operation") == "CreateTrainingJob")

    started = ok(sm(*fit_args("penguins-opts", *options, "--no-wait", "--json")))
    assert "training job penguins-opts started" in started.err
    assert "Starting - " not in started.err  # not followed
    assert started.json()["TrainingJobName"] == "penguins-opts"
    request = aws.request("CreateTrainingJob")
    # `smtrain plan fit` printed exactly what `fit` sent, but for the id each submission uploads under
    assert same_but_submission(request, create["params"])
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"]["MaxWaitTimeInSeconds"] == 7200
    assert request["CheckpointConfig"] == {"S3Uri": f"{ROOT}/penguins-opts/checkpoints/"}
    assert request["ResourceConfig"]["VolumeKmsKeyId"] == "alias/volume"
    assert request["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"
    assert request["OutputDataConfig"]["KmsKeyId"] == "alias/out"
    assert request["VpcConfig"] == {"Subnets": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]}
    assert request["EnableNetworkIsolation"] is True
    assert request["Environment"] == {"FOO": "bar"}


def test_backend_is_chosen_by_flag_dotenv_or_toml(sm: Cli, aws: Moto) -> None:
    create_job(aws, "made-elsewhere", tags=[{"Key": "smtrain:managed", "Value": "true"}])
    create_job(aws, "not-smtrain")  # `ls` lists smtrain's jobs: Search filters on its tag
    del sm.env["SMTRAIN_BACKEND"]

    def jobs(*flags: str) -> list[str]:
        return [json.loads(line)["name"] for line in ok(sm("ls", "--json", *flags)).out.splitlines()]

    assert jobs() == []  # the local backend: its own (empty) state
    assert jobs("--backend", "sagemaker") == ["made-elsewhere"]
    (sm.cwd / "smtrain.toml").write_text('backend = "sagemaker"\n')
    assert jobs() == ["made-elsewhere"]
    assert jobs("--backend", "local") == []
    (sm.cwd / "smtrain.toml").write_text('backend = "local"\n')
    (sm.cwd / ".env").write_text("SMTRAIN_BACKEND=sagemaker\n")  # .env wins over smtrain.toml
    assert jobs() == ["made-elsewhere"]


# -- following a job -------------------------------------------------------------------------


def test_ctrl_c_detaches_and_says_how_to_stop(sm: Cli, aws: Moto) -> None:
    create_job(aws, "running-job")
    job = aws.training_job("running-job")
    job.training_job_status, job.secondary_status = "InProgress", "Training"
    write_log(aws, "running-job", "epoch 1")
    env = dict(sm.env, SMTRAIN_POLL_SECONDS="0.2")
    with subprocess.Popen([SMTRAIN, "logs", "running-job"], cwd=sm.cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
        watchdog = threading.Timer(60, process.kill)
        watchdog.start()
        try:
            assert process.stdout is not None
            seen = []
            for line in process.stdout:  # following: the job runs on; its log goes to stdout
                seen.append(line)
                if "epoch 1" in line:
                    break
            time.sleep(0.5)
            assert process.poll() is None, seen
            process.send_signal(signal.SIGINT)
            _, rest = process.communicate(timeout=60)
            assert process.returncode == 130
        finally:
            watchdog.cancel()
    assert "detached; job running-job keeps running. Stop it with: smtrain stop running-job" in rest
    assert "Traceback" not in rest
    assert aws.requests("StopTrainingJob") == []  # detaching stops nothing on SageMaker

    stopped = ok(sm("stop", "running-job"))
    assert "running-job: Stopped" in stopped.err
    assert aws.request("StopTrainingJob") == {"TrainingJobName": "running-job"}
    after = sm("logs", "running-job")
    assert after.code == 1 and "running-job: Stopped" in after.err


def test_failed_job_shows_the_reason_and_exits_1(sm: Cli, aws: Moto) -> None:
    create_job(aws, "failed-job")
    job = aws.training_job("failed-job")
    job.training_job_status = job.secondary_status = "Failed"
    job.failure_reason = "AlgorithmError: ExecuteUserScriptError: ValueError: bad column sex2"
    result = sm("logs", "failed-job")
    assert result.code == 1
    assert "failed-job: Failed\nAlgorithmError: ExecuteUserScriptError: ValueError: bad column sex2" in result.err
    deploy = sm("deploy", "failed-job")
    assert_clear_error(deploy, 2, "training job failed-job is Failed")


# -- endpoints ---------------------------------------------------------------------------------


def test_teardown_all_removes_only_smtrain_endpoints(sm: Cli, aws: Moto) -> None:
    create_job(aws, "job-1")
    ok(sm("deploy", "job-1", "--endpoint-name", "mine"))
    create_endpoint(aws, "not-mine", tags=[{"Key": "team", "Value": "search"}])
    create_endpoint(aws, "says-false", tags=[{"Key": "smtrain:managed", "Value": "false"}])
    result = ok(sm("teardown", "--all"))
    assert "removed Endpoint mine, EndpointConfig mine, Model mine" in result.err
    assert endpoint_names(aws) == ["not-mine", "says-false"]
    assert "no smtrain endpoint to remove" in ok(sm("teardown", "--all")).err


def test_ttl_and_teardown_expired(sm: Cli, aws: Moto) -> None:
    create_job(aws, "job-1")
    ok(sm("deploy", "job-1", "--endpoint-name", "short-lived", "--ttl", "1", "--serverless-memory", "2048"))
    variant = aws.request("CreateEndpointConfig")["ProductionVariants"][0]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert "InstanceType" not in variant
    arn = aws.client("sagemaker").describe_endpoint(EndpointName="short-lived")["EndpointArn"]
    expires = dt.datetime.strptime(tags_of(aws, arn)["smtrain:expires-at"], "%Y-%m-%dT%H:%M:%SZ")
    expires = expires.replace(tzinfo=dt.timezone.utc)
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    create_endpoint(aws, "later", tags=[{"Key": "smtrain:managed", "Value": "true"},
                                        {"Key": "smtrain:expires-at", "Value": later}])
    create_endpoint(aws, "no-ttl", tags=[{"Key": "smtrain:managed", "Value": "true"}])
    time.sleep(max(0.0, (expires - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.1)
    result = ok(sm("teardown", "--expired"))
    assert "removed Endpoint short-lived" in result.err
    assert endpoint_names(aws) == ["later", "no-ttl"]


# -- errors a user can cause -------------------------------------------------------------------


@pytest.mark.parametrize("args", [["ls"], ["logs", "some-job"]])
def test_missing_credentials(sm: Cli, args: list[str]) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        del sm.env[name]
    result = sm(*args)
    assert_clear_error(result, 2, "no usable AWS credentials", "aws configure")


def test_unknown_bucket(sm: Cli, aws: Moto) -> None:
    result = sm(*fit_args("job-1", "--bucket", "no-such-bucket"))
    assert_clear_error(result, 1, "bucket no-such-bucket does not exist", "SMTRAIN_BUCKET")
    assert aws.requests("CreateTrainingJob") == []


@pytest.mark.parametrize(("region", "suggestion"), [("us-east-1a", "did you mean us-east-1?"),
                                                    ("eu-westt-1", "did you mean eu-west-1?")])
def test_wrong_region(sm: Cli, aws: Moto, region: str, suggestion: str) -> None:
    result = sm("ls", "--region", region)
    assert_clear_error(result, 2, f"SageMaker has no region '{region}'", suggestion, "SMTRAIN_REGION")
    assert aws.recorded() == []


def test_missing_role(sm: Cli, aws: Moto, tmp_path: Path) -> None:
    del sm.env["SMTRAIN_ROLE"]
    sm.env["SMTRAIN_RESOURCE_METADATA"] = str(tmp_path / "no-metadata.json")
    result = sm(*fit_args("job-1"))
    # Found as the SDK finds it: no notebook metadata, and moto's caller is a user, not a role.
    assert_clear_error(result, 2, "no SageMaker execution role found", "tried: ", "no-metadata.json: no such file",
                       "is not a role", "SMTRAIN_ROLE")
    assert all(b"GetCallerIdentity" in entry["body"] for entry in aws.recorded())  # nothing uploaded or created


@pytest.mark.parametrize("args", [["logs", "no-such-job"], ["deploy", "no-such-job"], ["stop", "no-such-job"],
                                  ["register", "no-such-job", "--group", "g"]])
def test_unknown_job(sm: Cli, args: list[str]) -> None:
    assert_clear_error(sm(*args), 1, "no-such-job")


# -- parity with the SDK: hints, roles, encryption ---------------------------------------------


def test_every_hint_pastes_as_is(sm: Cli, aws: Moto) -> None:
    """With the backend and bucket given as flags, each suggested command works when pasted."""
    import shlex

    del sm.env["SMTRAIN_BACKEND"], sm.env["SMTRAIN_BUCKET"]
    flags = ("--backend", "sagemaker", "--bucket", BUCKET)
    prepared = ok(sm("prepare", *flags))
    (suggested_fit,) = [line.removeprefix("next: ") for line in prepared.err.splitlines() if line.startswith("next:")]
    assert suggested_fit.endswith(f"--backend sagemaker --region {REGION} --bucket {BUCKET}")
    fit = ok(sm(*shlex.split(suggested_fit)[1:], "--job-name", "pasted"))
    assert "pasted: Completed" in fit.err
    assert aws.request("CreateTrainingJob")["OutputDataConfig"]["S3OutputPath"] == f"{ROOT}/output/"

    deployed = ok(sm("deploy", "pasted", "--endpoint-name", "pasted-ep", *flags))
    (line,) = [line for line in deployed.err.splitlines() if line.startswith("try: ")]
    predict, teardown = line.removeprefix("try: ").split("; remove it: ")
    assert predict == f"smtrain predict pasted-ep --body 'CSV ROW' --backend sagemaker --region {REGION}"

    missing = sm("logs", "no-such-job", "--backend", "sagemaker")
    assert_clear_error(missing, 1, f"`smtrain ls --backend sagemaker --region {REGION}` lists what exists")
    listed = ok(sm(*shlex.split(f"smtrain ls --backend sagemaker --region {REGION}")[1:], "--json"))
    assert all(run["backend"] == "sagemaker" for run in listed.json_lines())  # the hint ran as pasted

    assert "removed Endpoint pasted-ep" in ok(sm(*shlex.split(teardown)[1:])).err
    assert endpoint_names(aws) == []


def test_a_role_name_is_expanded_and_an_unknown_one_refused_before_upload(sm: Cli, aws: Moto) -> None:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
    aws.client("iam").create_role(RoleName="SageMakerExecutionRole", AssumeRolePolicyDocument=json.dumps(trust))
    aws.post("/moto-api/recorder/reset-recording")
    sm.env["SMTRAIN_ROLE"] = "NoSuchRole"
    refused = sm(*fit_args("job-1"))
    assert_clear_error(refused, 2, "IAM role 'NoSuchRole' does not exist", "full ARN")
    assert [e for e in aws.recorded() if e["method"] == "PUT"] == []  # nothing uploaded
    assert aws.requests("CreateTrainingJob") == []

    sm.env["SMTRAIN_ROLE"] = "SageMakerExecutionRole"
    ok(sm(*fit_args("job-1")))
    assert aws.request("CreateTrainingJob")["RoleArn"] == ROLE


def test_kms_key_encrypts_uploads_and_output(sm: Cli, aws: Moto) -> None:
    key = aws.client("kms").create_key()["KeyMetadata"]["Arn"]
    ok(sm(*fit_args("job-1", "--kms-key", key)))
    assert aws.request("CreateTrainingJob")["OutputDataConfig"] == {"S3OutputPath": f"{ROOT}/output/",
                                                                    "KmsKeyId": key}
    (source,) = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="smtrain/job-1/source/")
                 .get("Contents", [])]
    assert source.endswith("/sourcedir.tar.gz")  # under this submission's own id
    head = aws.client("s3").head_object(Bucket=BUCKET, Key=source)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key)
    sm.env["SMTRAIN_KMS_KEY"] = key  # the setting, for the data sync
    ok(sm("prepare"))
    head = aws.client("s3").head_object(Bucket=BUCKET, Key="smtrain/data/penguins/train/X_train.csv")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key)


# -- tuning ------------------------------------------------------------------------------------


def tune_args(job: str, *extra: str) -> list[str]:
    return ["tune", "--entry-point", "penguins.py", "--source-dir", "entry_points",
            "--channel", f"train={ROOT}/data/penguins/train/", "--hp", "target=sex",
            "--metric-definition", "Accuracy=test_accuracy=([0-9.]+)", "--objective", "Accuracy",
            "--range", "C=continuous:0.01:10:log", "--max-jobs", "4", "--max-parallel", "2", "--job-name", job, *extra]


def test_tune_sends_the_planned_request_and_shows_the_trials_and_best_so_far(sm: Cli, aws: Moto) -> None:
    planned = ok(sm("plan", *tune_args("penguins-tune")))
    assert aws.requests("CreateHyperParameterTuningJob") == []  # planning sends nothing
    create = next(step for step in planned.json() if step.get("operation") == "CreateHyperParameterTuningJob")
    # moto's tuning job is Completed at once, one trial done and a canned BestTrainingJob.
    tuned = ok(sm(*tune_args("penguins-tune")))
    assert same_but_submission(aws.request("CreateHyperParameterTuningJob"), create["params"])
    assert "Completed: 1 completed, 0 failed, 0 running; best Accuracy 1 (FakeTrainingJobName)" in tuned.err
    for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
        assert secret not in tuned.out and secret not in tuned.err


def test_ctrl_c_while_tuning_on_sagemaker_detaches_and_says_how_to_stop(
        sm: Cli, aws: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.sagemaker.models import HyperParameterTuningJob

    created = HyperParameterTuningJob.__init__

    def running(self: Any, *args: Any, **kwargs: Any) -> None:  # what moto never shows: a job under way
        created(self, *args, **kwargs)
        self.hyper_parameter_tuning_job_status = "InProgress"
        self.training_job_status_counters.update(Completed=1, InProgress=2, NonRetryableError=1)

    monkeypatch.setattr(HyperParameterTuningJob, "__init__", running)
    progress = "InProgress: 1 completed, 1 failed, 2 running; best Accuracy 1 (FakeTrainingJobName)"
    env = dict(sm.env, SMTRAIN_POLL_SECONDS="0.2")
    with subprocess.Popen([SMTRAIN, *tune_args("busy-tune")], cwd=sm.cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
        watchdog = threading.Timer(60, process.kill)
        watchdog.start()
        try:
            assert process.stderr is not None
            seen = []
            for line in process.stderr:  # progress while it waits
                seen.append(line)
                if progress in line:
                    break
            assert process.poll() is None, seen
            process.send_signal(signal.SIGINT)
            _, rest = process.communicate(timeout=60)
            assert process.returncode == 130
        finally:
            watchdog.cancel()
    assert "detached; tuning job busy-tune keeps running. Stop it with: smtrain stop busy-tune" in rest
    assert "Traceback" not in rest
    assert aws.requests("StopHyperParameterTuningJob") == []  # detaching stops nothing on SageMaker

"""Real training jobs on the local backend: tiny scripts, the real supervisor, no AWS.

Each job runs the way ``smtrain fit`` runs it: the source packed with
``pack_source``, the request built by ``plan_fit``, ``create_training_job``
on ``LocalSageMaker``, then ``describe_training_job`` until the job ends.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tarfile
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from smtrain.backends.local.jobs import sandbox
from smtrain.backends.local.jobs import table as jobs_module
from smtrain.backends.local.jobs.processes import is_alive
from smtrain.backends.local.service import LocalSageMaker
from smtrain.backends.local.store.home import LocalHome
from smtrain.core.config import Config
from smtrain.core.uris import to_path
from smtrain.files.tarballs import pack_source
from smtrain.planning.plan import LOCAL_IMAGE, LOCAL_ROLE, plan_fit
from smtrain.planning.spec import TrainingSpec
from tests.helpers import build_wheel

DUMP_SCRIPT = """
import json, os, sys
with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as f:
    json.dump({"env": dict(os.environ), "argv": sys.argv, "cwd": os.getcwd(),
               "files": sorted(os.listdir(".")), "executable": sys.executable}, f)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
    f.write("fitted")
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt"), "w") as f:
    f.write("report")
print("epoch 1 accuracy=0.50")
print("epoch 2 accuracy=0.93")
"""


class Jobs:
    """Submits jobs like ``smtrain fit`` does, against one local home."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = LocalHome(root / "home")
        self.sm = LocalSageMaker(self.home)
        self.store = f"file://{self.home.store}/smtrain"
        data = root / "data"
        data.mkdir(exist_ok=True)
        (data / "train.csv").write_text("a,b\n1,2\n")
        self.data = data

    def request(self, name: str, script: str, *, files: dict[str, str | bytes] | None = None,
                hyperparameters: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
        source = self.root / f"src-{name}"
        for relative, content in {"train.py": textwrap.dedent(script), **(files or {})}.items():
            path = source / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        training = TrainingSpec(entry_point="train.py", source_dir=source, channels={"train": str(self.data)},
                                hyperparameters=hyperparameters or {}, job_name=name, submission_id="s1", **spec)
        upload, call, _ = plan_fit(training, Config(home=self.home.root), root=self.store,
                                   image_uri=LOCAL_IMAGE, role=LOCAL_ROLE)
        pack_source(Path(upload.local_path), "train.py", to_path(upload.uri))
        return dict(call.params)

    def run(self, name: str, script: str, **kw: Any) -> dict[str, Any]:
        self.sm.create_training_job(**self.request(name, script, **kw))
        return self.wait(name)

    def wait(self, name: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.sm.describe_training_job(TrainingJobName=name)
            if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                return job
            time.sleep(0.02)
        raise AssertionError(f"job {name} still {job['TrainingJobStatus']} after {timeout}s")

    def wait_for_file(self, path: Path, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.is_file() and path.read_text().endswith("\n"):
                return path.read_text()
            time.sleep(0.02)
        raise AssertionError(f"{path} never appeared; log:\n{self.log_of(path)}")

    def supervisor_when_idle(self, name: str, script_pid: int) -> int:
        """The supervisor's pid, once it has recorded the script (so it holds no database lock)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            private = (self.sm.db.get("training-job", name) or {}).get("_local", {})
            if private.get("script_pgid") == script_pid:
                return int(private["supervisor_pid"])
            time.sleep(0.02)
        raise AssertionError(f"job {name} never recorded its script")

    def log_of(self, path: Path) -> str:
        logs = list(self.home.root.glob("jobs/*/job.log"))
        return "\n".join(p.read_text() for p in logs)


def members(uri: str) -> dict[str, bytes]:
    with tarfile.open(to_path(uri)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


@pytest.fixture
def jobs(tmp_path: Path) -> Jobs:
    return Jobs(tmp_path)


@pytest.fixture(scope="module")
def completed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Jobs, dict[str, Any], dict[str, Any]]:
    """One successful job, shared by the tests that inspect it."""
    jobs = Jobs(tmp_path_factory.mktemp("completed"))
    job = jobs.run(
        "job-ok", DUMP_SCRIPT,
        files={".env": "AWS_SECRET_ACCESS_KEY=leak\n", ".env.example": "AWS_PROFILE=\n", "lib/helper.py": ""},
        hyperparameters={"max_depth": 3, "criterion": "gini", "n": 2},
        metric_definitions={"accuracy": r"accuracy=([0-9.]+)"},
        environment={"MY_SETTING": "on"},
    )
    seen = json.loads(members(job["ModelArtifacts"]["S3ModelArtifacts"])["seen.json"])
    return jobs, job, seen


def test_success_describes_like_sagemaker(completed: tuple[Jobs, dict[str, Any], dict[str, Any]]) -> None:
    jobs, job, _ = completed

    assert job["TrainingJobStatus"] == "Completed", jobs.sm.training_log("job-ok").read_text()
    assert job["SecondaryStatus"] == "Completed"
    assert job["TrainingJobArn"] == "arn:aws:sagemaker:us-east-1:000000000000:training-job/job-ok"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert all(t["EndTime"] >= t["StartTime"] for t in job["SecondaryStatusTransitions"])
    for key in ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime"):
        assert isinstance(job[key], datetime) and job[key].utcoffset() == timedelta(0), key
    assert job["CreationTime"] <= job["TrainingStartTime"] <= job["TrainingEndTime"]
    assert job["TrainingTimeInSeconds"] == job["BillableTimeInSeconds"] >= 0
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"{jobs.store}/output/job-ok/output/model.tar.gz"
    assert "FailureReason" not in job
    assert "_local" not in job
    assert job["HyperParameters"]["max_depth"] == "3"


def test_success_packs_model_and_output_data(completed: tuple[Jobs, dict[str, Any], dict[str, Any]]) -> None:
    jobs, job, _ = completed
    model_uri = job["ModelArtifacts"]["S3ModelArtifacts"]

    assert set(members(model_uri)) == {"model.txt", "seen.json"}
    assert members(model_uri)["model.txt"] == b"fitted"
    assert members(model_uri.replace("model.tar.gz", "output.tar.gz")) == {"report.txt": b"report"}
    assert (jobs.home.job_dir("job-ok") / "output" / "success").is_file()
    assert not (jobs.home.job_dir("job-ok") / "output" / "failure").exists()


def test_script_sees_the_container_contract(completed: tuple[Jobs, dict[str, Any], dict[str, Any]]) -> None:
    jobs, _, seen = completed
    # The script's paths are /opt/ml/... where a job namespace is possible (test_job_namespace.py), else its folder.
    base = Path("/opt/ml") if sandbox.namespace().active else jobs.home.job_dir("job-ok")
    env = seen["env"]

    assert seen["argv"] == ["train.py", "--criterion", "gini", "--max_depth", "3", "-n", "2"]
    assert seen["cwd"] == str(base / "code")
    assert seen["executable"] == sys.executable
    assert env["SM_MODEL_DIR"] == str(base / "model")
    assert env["SM_CHANNELS"] == '["train"]'
    assert env["SM_CHANNEL_TRAIN"] == str(base / "input" / "data" / "train")
    assert (jobs.home.job_dir("job-ok") / "input" / "data" / "train" / "train.csv").read_text() == "a,b\n1,2\n"
    assert env["SM_HPS"] == '{"criterion":"gini","max_depth":3,"n":2}'
    assert (env["SM_HP_MAX_DEPTH"], env["SM_HP_CRITERION"], env["SM_HP_N"]) == ("3", "gini", "2")
    assert env["SM_USER_ARGS"] == '["--criterion","gini","--max_depth","3","-n","2"]'
    assert (env["SM_HOSTS"], env["SM_CURRENT_HOST"], env["SM_NUM_GPUS"]) == ('["algo-1"]', "algo-1", "0")
    assert env["SM_NUM_CPUS"] == str(os.cpu_count())
    assert (env["SM_MODULE_NAME"], env["SM_USER_ENTRY_POINT"], env["SM_LOG_LEVEL"]) == ("train", "train.py", "20")
    assert env["SM_MODULE_DIR"] == f"{jobs.store}/job-ok/source/s1/sourcedir.tar.gz"
    assert env["SM_FRAMEWORK_PARAMS"] == "{}"
    assert env["SM_CURRENT_INSTANCE_TYPE"] == "local"
    for name, path in [("SM_OUTPUT_DIR", "output"), ("SM_OUTPUT_DATA_DIR", "output/data"),
                       ("SM_OUTPUT_INTERMEDIATE_DIR", "output/intermediate"), ("SM_INPUT_DIR", "input"),
                       ("SM_INPUT_CONFIG_DIR", "input/config")]:
        assert env[name] == str(base / path), name
    assert json.loads(env["SM_RESOURCE_CONFIG"])["current_host"] == "algo-1"
    assert json.loads(env["SM_INPUT_DATA_CONFIG"]) == {"train": {
        "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["hyperparameters"] == {"criterion": "gini", "max_depth": 3, "n": 2}
    assert training_env["job_name"] == "job-ok"
    assert (env["TRAINING_JOB_NAME"], env["SAGEMAKER_JOB_NAME"]) == ("job-ok", "job-ok")
    assert (env["CURRENT_HOST"], env["SAGEMAKER_REGION"]) == ("algo-1", "us-east-1")
    assert env["MY_SETTING"] == "on"
    assert env["PYTHONPATH"].split(":")[0] == str(base / "code")


def test_config_files_and_tree(completed: tuple[Jobs, dict[str, Any], dict[str, Any]]) -> None:
    jobs, job, _ = completed
    config = jobs.home.job_dir("job-ok") / "input" / "config"

    assert json.loads((config / "hyperparameters.json").read_text()) == job["HyperParameters"]
    assert json.loads((config / "resourceconfig.json").read_text())["hosts"] == ["algo-1"]
    assert set(json.loads((config / "inputdataconfig.json").read_text())) == {"train"}


def test_env_files_are_never_shipped(completed: tuple[Jobs, dict[str, Any], dict[str, Any]]) -> None:
    _, _, seen = completed

    assert ".env" not in seen["files"]
    assert {".env.example", "lib", "train.py"} <= set(seen["files"])


def test_metrics_and_live_log(completed: tuple[Jobs, dict[str, Any], dict[str, Any]]) -> None:
    jobs, job, _ = completed

    [metric] = job["FinalMetricDataList"]
    assert (metric["MetricName"], metric["Value"]) == ("accuracy", 0.93)
    assert isinstance(metric["Timestamp"], datetime)
    log = jobs.sm.training_log("job-ok").read_text()
    assert "epoch 1 accuracy=0.50\nepoch 2 accuracy=0.93\n" in log
    assert "train.py --criterion gini --max_depth 3 -n 2" in log


def test_list_training_jobs_newest_first(jobs: Jobs) -> None:
    for name in ("first", "second"):
        jobs.run(name, "print('hi')")

    summaries = jobs.sm.list_training_jobs()["TrainingJobSummaries"]

    assert [s["TrainingJobName"] for s in summaries] == ["second", "first"]
    assert summaries[0]["TrainingJobStatus"] == "Completed"
    assert set(summaries[0]) >= {"TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime"}
    assert [s["TrainingJobName"] for s in jobs.sm.list_training_jobs(SortOrder="Ascending")["TrainingJobSummaries"]
            ] == ["first", "second"]
    page = jobs.sm.list_training_jobs(MaxResults=1)
    assert len(page["TrainingJobSummaries"]) == 1 and page["NextToken"]
    assert jobs.sm.list_training_jobs(NameContains="sec")["TrainingJobSummaries"][0]["TrainingJobName"] == "second"


def test_a_single_file_channel_lands_in_its_channel_dir(jobs: Jobs) -> None:
    script = """
    import os
    names = sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))
    open(os.path.join(os.environ["SM_MODEL_DIR"], "names.txt"), "w").write(",".join(names))
    """
    request = jobs.request("job-file-channel", script)
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = (jobs.data / "train.csv").as_uri()

    jobs.sm.create_training_job(**request)
    job = jobs.wait("job-file-channel")

    assert members(job["ModelArtifacts"]["S3ModelArtifacts"])["names.txt"] == b"train.csv"


def test_failure_reason_keeps_the_traceback_tail(jobs: Jobs) -> None:
    script = """
    import sys
    for i in range(300):
        print("noise line", i)
    def deep(n):
        if n == 0:
            raise ValueError("bad max_depth: -1")
        deep(n - 1)
    deep(30)
    """

    job = jobs.run("job-fails", script)

    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage")
    assert 'ValueError: bad max_depth: -1"' in reason
    assert len(reason) <= 1024
    failure = (jobs.home.job_dir("job-fails") / "output" / "failure").read_text()
    assert reason == "AlgorithmError: " + failure[: 1024 - len("AlgorithmError: ")]
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-1] == "Failed"


def test_a_failure_file_written_by_the_script_wins(jobs: Jobs) -> None:
    script = """
    import os, sys
    open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write("ClientError: label column missing")
    sys.exit(3)
    """

    job = jobs.run("job-own-failure", script)

    assert job["FailureReason"] == "AlgorithmError: ClientError: label column missing"


def test_stop_kills_the_whole_process_tree(jobs: Jobs) -> None:
    pids = jobs.root / "pids.txt"
    script = f"""
    import os, subprocess, time
    child = subprocess.Popen(["sleep", "60"])
    open(os.path.join(os.environ["SM_MODEL_DIR"], "partial.txt"), "w").write("checkpoint")
    with open({str(pids)!r}, "w") as f:
        f.write(f"{{os.getpid()}} {{child.pid}}\\n")
    time.sleep(60)
    """
    jobs.sm.create_training_job(**jobs.request("job-stop", script))
    script_pid, child_pid = map(int, jobs.wait_for_file(pids).split())

    assert jobs.sm.stop_training_job(TrainingJobName="job-stop") == {}
    job = jobs.wait("job-stop", timeout=20)

    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "Stopped"
    assert "Stopping" in [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert not is_alive(script_pid) and not is_alive(child_pid)
    assert members(job["ModelArtifacts"]["S3ModelArtifacts"]) == {"partial.txt": b"checkpoint"}
    with pytest.raises(ClientError, match="in status Stopped"):
        jobs.sm.stop_training_job(TrainingJobName="job-stop")


def test_max_runtime_stops_the_job(jobs: Jobs) -> None:
    request = jobs.request("job-slow", "import time\ntime.sleep(60)\n")
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 1}
    started = time.monotonic()

    jobs.sm.create_training_job(**request)
    job = jobs.wait("job-slow", timeout=20)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert time.monotonic() - started < 10


def test_unresponsive_supervisor_is_stopped_by_the_api(jobs: Jobs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs_module, "STOP_ACK_SECONDS", 0.5)
    pids = jobs.root / "pid.txt"
    script = f"import os, time\nopen({str(pids)!r}, 'w').write(f'{{os.getpid()}}\\n')\ntime.sleep(60)\n"
    jobs.sm.create_training_job(**jobs.request("job-hung", script))
    script_pid = int(jobs.wait_for_file(pids))
    supervisor = jobs.supervisor_when_idle("job-hung", script_pid)
    os.kill(supervisor, signal.SIGSTOP)

    jobs.sm.stop_training_job(TrainingJobName="job-hung")
    job = jobs.sm.describe_training_job(TrainingJobName="job-hung")

    assert job["TrainingJobStatus"] == "Stopped"
    assert not is_alive(script_pid) and not is_alive(supervisor)


def test_vanished_supervisor_fails_the_job(jobs: Jobs) -> None:
    pids = jobs.root / "pid.txt"
    script = f"import os, time\nopen({str(pids)!r}, 'w').write(f'{{os.getpid()}}\\n')\ntime.sleep(60)\n"
    jobs.sm.create_training_job(**jobs.request("job-orphan", script))
    script_pid = int(jobs.wait_for_file(pids))
    supervisor = jobs.supervisor_when_idle("job-orphan", script_pid)
    os.kill(supervisor, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while is_alive(supervisor) and time.monotonic() < deadline:
        time.sleep(0.02)

    job = jobs.sm.describe_training_job(TrainingJobName="job-orphan")

    assert job["TrainingJobStatus"] == "Failed"
    assert "supervisor" in job["FailureReason"] and "exited unexpectedly" in job["FailureReason"]
    assert not is_alive(script_pid)


def test_requirements_install_into_a_cached_layered_venv(jobs: Jobs) -> None:
    wheel = build_wheel(jobs.root / "wheels").read_bytes()
    files: dict[str, str | bytes] = {
        "requirements.txt": "--no-index\n./wheels/smtrain_probe_pkg-1.0-py3-none-any.whl\n",
        "wheels/smtrain_probe_pkg-1.0-py3-none-any.whl": wheel,
    }
    script = """
    import os, subprocess, sys, smtrain_probe_pkg, click  # the wheel, and a package of the parent environment
    console = subprocess.run(["smtrain-probe"], capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "probe.txt"), "w") as f:
        f.write(f"{smtrain_probe_pkg.VALUE} {sys.prefix} {console!r}")
    """

    first = jobs.run("job-reqs-1", script, files=files)
    second = jobs.run("job-reqs-2", script, files=files)

    assert first["TrainingJobStatus"] == "Completed", jobs.sm.training_log("job-reqs-1").read_text()
    value, prefix, console = members(first["ModelArtifacts"]["S3ModelArtifacts"])["probe.txt"].decode().split(" ", 2)
    assert value == "42"
    assert console == "'probe script ok'"  # its console script runs from the renamed venv
    assert Path(prefix).parent == jobs.home.venvs
    assert members(second["ModelArtifacts"]["S3ModelArtifacts"])["probe.txt"].decode().split()[1] == prefix
    assert [p.name for p in jobs.home.venvs.iterdir()] == [Path(prefix).name]  # one cached venv, no leftovers
    assert "Successfully installed smtrain_probe_pkg" not in jobs.sm.training_log("job-reqs-2").read_text()
    with pytest.raises(ImportError):
        __import__("smtrain_probe_pkg")  # the user's own environment is untouched


def test_failed_requirements_fail_the_job_and_leave_no_venv(jobs: Jobs) -> None:
    files: dict[str, str | bytes] = {"requirements.txt": "--no-index\nsmtrain-no-such-package==9.9\n"}

    job = jobs.run("job-bad-reqs", "print('never')", files=files)

    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: InstallRequirementsError:\nExitCode 1")
    assert "smtrain-no-such-package" in job["FailureReason"]
    assert list(jobs.home.venvs.iterdir()) == []


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_api_errors_have_sagemaker_codes(jobs: Jobs) -> None:
    with pytest.raises(ClientError) as error:
        jobs.sm.describe_training_job(TrainingJobName="nope")
    assert error_code(error) == "ValidationException"
    assert error.value.response["Error"]["Message"] == "Requested resource not found."
    with pytest.raises(ClientError) as error:
        jobs.sm.stop_training_job(TrainingJobName="nope")
    assert error_code(error) == "ValidationException"

    jobs.run("job-dup", "print(1)")
    with pytest.raises(ClientError) as error:
        jobs.sm.create_training_job(**jobs.request("job-dup", "print(1)"))
    assert error_code(error) == "ResourceInUse"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["AlgorithmSpecification"].update(TrainingImage="123.dkr.ecr.us-east-1.amazonaws.com/mine:1"),
         "needs Docker"),
        (lambda r: r["InputDataConfig"][0]["DataSource"]["S3DataSource"].update(S3Uri="s3:///train/"),
         "s3Uri' failed to satisfy constraint"),
        (lambda r: r["InputDataConfig"][0]["DataSource"]["S3DataSource"].update(S3Uri="file:///no/such/dir"),
         "no file or directory"),
        (lambda r: r["HyperParameters"].update(sagemaker_submit_directory='"s3://b/sourcedir.tar.gz"'),
         "sagemaker_submit_directory"),
        (lambda r: r["HyperParameters"].pop("sagemaker_program"), "sagemaker_program"),
        (lambda r: r["ResourceConfig"].update(InstanceGroups=[{"InstanceGroupName": "g", "InstanceType": "ml.m5.large",
                                                               "InstanceCount": 1}]), "not InstanceGroups"),
    ],
)
def test_requests_the_local_backend_cannot_run(jobs: Jobs, change: Any, message: str) -> None:
    request = jobs.request("job-invalid", "print(1)")
    change(request)

    with pytest.raises(ClientError, match=message) as error:
        jobs.sm.create_training_job(**request)

    assert error_code(error) == "ValidationException"
    assert jobs.sm.list_training_jobs()["TrainingJobSummaries"] == []


def test_a_request_boto3_refuses_is_refused_the_same_way(jobs: Jobs) -> None:
    """A missing required member never reaches the service: botocore's own ParamValidationError."""
    from botocore.exceptions import ParamValidationError

    request = jobs.request("job-invalid", "print(1)")
    request.pop("RoleArn")
    with pytest.raises(ParamValidationError, match='Missing required parameter in input: "RoleArn"'):
        jobs.sm.create_training_job(**request)
    assert jobs.sm.list_training_jobs()["TrainingJobSummaries"] == []

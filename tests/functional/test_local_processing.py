"""The local backend's processing container contract, file by file (see
smtrain/backends/local/processing/contract.py for each fact's source).

Each test runs a real processing job through the local service (the boto3-shaped API) with a small
script that reports what it saw; the job's folder plays /opt/ml.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from smtrain.backends.local.service import LocalSageMaker
from smtrain.backends.local.store.home import LocalHome
from smtrain.planning.kinds import PROCESSING
from smtrain.planning.processing import processing_input, processing_output, runproc_script
from tests.helpers import build_wheel, wait_until

IMAGE = "smtrain-local/sklearn:current"  # this environment's libraries: no framework environment to build
SEES = """\
import json, os, sys
from pathlib import Path
job = Path(__file__).resolve().parents[3]
seen = {"argv": sys.argv[1:], "cwd": os.getcwd(), "env": os.environ.get("FLAVOUR"),
        "inputs": sorted(str(p.relative_to(job)) for p in (job / "processing").rglob("*") if p.is_file()),
        "resourceconfig": json.loads((job / "config/resourceconfig.json").read_text()),
        "processingjobconfig": json.loads((job / "config/processingjobconfig.json").read_text())}
out = job / "processing/out"
out.mkdir(parents=True, exist_ok=True)
(out / "seen.json").write_text(json.dumps(seen))
"""


@pytest.fixture
def service(tmp_path: Path) -> LocalSageMaker:
    return LocalSageMaker(LocalHome(tmp_path / "home"))


def write_script(folder: Path, text: str, name: str = "job.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def request(name: str, script: Path, tmp_path: Path, *, inputs: list[dict[str, Any]] | None = None,
            outputs: tuple[str, ...] = ("out",), **extra: Any) -> dict[str, Any]:
    return {
        "ProcessingJobName": name, "RoleArn": "arn:aws:iam::000000000000:role/r",
        "AppSpecification": {"ImageUri": IMAGE,
                             "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{script.name}"],
                             **extra.pop("app", {})},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 30}},
        "ProcessingInputs": [*(inputs or []),
                             processing_input("code", script.as_uri(), "/opt/ml/processing/input/code")],
        "ProcessingOutputConfig": {"Outputs": [
            processing_output(o, (tmp_path / "store" / o).as_uri(), f"/opt/ml/processing/{o}") for o in outputs]},
        **extra,
    }


def run(service: LocalSageMaker, params: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    service.create_processing_job(**params)
    name = params["ProcessingJobName"]
    assert wait_until(lambda: service.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"]
                      not in ("InProgress", "Stopping"), timeout)
    return service.describe_processing_job(ProcessingJobName=name)


def log_of(service: LocalSageMaker, name: str) -> str:
    return service.home.job_log(name, PROCESSING).read_text()


def test_inputs_are_at_their_local_path_before_the_script_starts(service: LocalSageMaker, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "nested").mkdir(parents=True)
    (data / "a.csv").write_text("a\n1\n")
    (data / "nested" / "b.csv").write_text("b\n2\n")
    script = write_script(tmp_path / "code", SEES)
    final = run(service, request("inputs", script, tmp_path,
                                 inputs=[processing_input("raw", data.as_uri(), "/opt/ml/processing/input/raw")]))
    assert final["ProcessingJobStatus"] == "Completed", log_of(service, "inputs")
    seen = json.loads((tmp_path / "store/out/seen.json").read_text())
    assert {"processing/input/raw/a.csv", "processing/input/raw/nested/b.csv",
            "processing/input/code/job.py"} <= set(seen["inputs"])


def test_the_config_files_are_written_as_sagemaker_writes_them(service: LocalSageMaker, tmp_path: Path) -> None:
    script = write_script(tmp_path / "code", SEES)
    params = request("configs", script, tmp_path, Environment={"FLAVOUR": "salty"})
    final = run(service, params)
    seen = json.loads((tmp_path / "store/out/seen.json").read_text())
    assert seen["resourceconfig"] == {"current_host": "algo-1", "hosts": ["algo-1"],
                                      "network_interface_name": "eth0", "current_instance_type": "ml.m5.large"}
    config = seen["processingjobconfig"]
    assert config["ProcessingJobName"] == "configs" and config["ProcessingJobArn"] == final["ProcessingJobArn"]
    for key in ("AppSpecification", "Environment", "ProcessingInputs", "ProcessingOutputConfig",
                "ProcessingResources", "RoleArn"):
        assert config[key] == params[key], key


def test_environment_entrypoint_and_arguments(service: LocalSageMaker, tmp_path: Path) -> None:
    script = write_script(tmp_path / "code", SEES)
    run(service, request("args", script, tmp_path, Environment={"FLAVOUR": "salty"},
                         app={"ContainerArguments": ["--size", "0.2", "--out", "/opt/ml/processing/out"]}))
    seen = json.loads((tmp_path / "store/out/seen.json").read_text())
    job = service.home.job_dir("args", PROCESSING)
    assert seen["env"] == "salty"
    assert seen["argv"] == ["--size", "0.2", "--out", str(job / "processing/out")]  # the job folder plays /opt/ml


def test_outputs_are_uploaded_after_exit_0_and_an_unwritten_one_is_empty(service: LocalSageMaker,
                                                                       tmp_path: Path) -> None:
    script = write_script(tmp_path / "code", SEES)
    final = run(service, request("outputs", script, tmp_path, outputs=("out", "never")))
    assert final["ProcessingJobStatus"] == "Completed"
    assert (tmp_path / "store/out/seen.json").is_file()
    assert (service.home.job_dir("outputs", PROCESSING) / "processing/never").is_dir()  # made before the script ran
    assert (tmp_path / "store/never").is_dir() and not any((tmp_path / "store/never").iterdir())
    assert "WARNING output never: the script wrote nothing to /opt/ml/processing/never" in log_of(service, "outputs")


def test_a_failing_script_fails_the_job_with_its_traceback_and_uploads_nothing(service: LocalSageMaker,
                                                                               tmp_path: Path) -> None:
    script = write_script(tmp_path / "code", "from pathlib import Path\n"
                          "out = Path(__file__).resolve().parents[3] / 'processing/out'\n"
                          "out.mkdir(parents=True, exist_ok=True)\n(out / 'half.csv').write_text('x')\n"
                          "raise ValueError('the raw data has no species column')\n")
    final = run(service, request("fails", script, tmp_path))
    assert final["ProcessingJobStatus"] == "Failed"
    assert "ExitCode 1" in final["FailureReason"]
    assert "ValueError: the raw data has no species column" in final["FailureReason"]
    assert not (tmp_path / "store/out").exists()


def test_exit_message_is_read_from_output_message(service: LocalSageMaker, tmp_path: Path) -> None:
    script = write_script(tmp_path / "code", "import sys\nfrom pathlib import Path\n"
                          "job = Path(__file__).resolve().parents[3]\n"
                          "(job / 'output').mkdir(exist_ok=True)\n"
                          "(job / 'output/message').write_text('only 12 rows: too few to split')\n"
                          "sys.exit(3)\n")
    final = run(service, request("message", script, tmp_path))
    assert final["ProcessingJobStatus"] == "Failed"
    assert final["ExitMessage"] == "only 12 rows: too few to split"
    summary = service.list_processing_jobs(NameContains="message")["ProcessingJobSummaries"][0]
    assert summary["ExitMessage"] == final["ExitMessage"]


def run_framework_processor(service: LocalSageMaker, tmp_path: Path, name: str,
                            files: dict[str, str | bytes]) -> dict[str, Any]:
    """A job as FrameworkProcessor(estimator_cls=SKLearn).run(code="main.py", source_dir=...) sends it: the
    source folder's ``files`` as sourcedir.tar.gz in input ``code``, and the SDK's runproc.sh as the entrypoint."""
    source = tmp_path / "source"
    for relative, content in files.items():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (source / relative).write_bytes(content)
        else:
            (source / relative).write_text(content)
    archive = tmp_path / "upload" / "sourcedir.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for path in source.iterdir():
            tar.add(path, arcname=path.name)
    runproc = tmp_path / "upload" / "runproc.sh"
    runproc.write_text(runproc_script("main.py"))
    params = request(name, archive, tmp_path, app={
        "ContainerEntrypoint": ["/bin/bash", "/opt/ml/processing/input/entrypoint/runproc.sh"],
        "ContainerArguments": ["--out", "/opt/ml/processing/out"]})
    entrypoint = "/opt/ml/processing/input/entrypoint"
    params["ProcessingInputs"] = [processing_input("code", archive.as_uri(), "/opt/ml/processing/input/code/"),
                                  processing_input("entrypoint", runproc.as_uri(), entrypoint)]
    return run(service, params, timeout=120)


def test_the_framework_processors_runproc_untars_the_source_and_runs_the_script(service: LocalSageMaker,
                                                                                tmp_path: Path) -> None:
    final = run_framework_processor(service, tmp_path, "framework", {
        "main.py": "import helper, os, sys\nfrom pathlib import Path\n"
                   "out = Path(sys.argv[-1])\nout.mkdir(parents=True, exist_ok=True)\n"
                   "(out / 'said.txt').write_text(helper.WORD + ' ' + os.getcwd())\n",
        "helper.py": "WORD = 'packed'\n"})
    assert final["ProcessingJobStatus"] == "Completed", log_of(service, "framework")
    word, cwd = (tmp_path / "store/out/said.txt").read_text().split(" ", 1)
    assert word == "packed"
    # the code folder, seen at /opt/ml where the job has its own namespace (jobs/sandbox.py)
    assert Path(cwd) in (service.home.job_dir("framework", PROCESSING) / "processing/input/code",
                         Path("/opt/ml/processing/input/code"))


def test_a_source_dirs_requirements_are_layered_on_as_for_fit(service: LocalSageMaker, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "built")
    final = run_framework_processor(service, tmp_path, "with-reqs", {
        "requirements.txt": f"--no-index\n./wheels/{wheel.name}\n",
        f"wheels/{wheel.name}": wheel.read_bytes(),
        "main.py": "import sys, smtrain_probe_pkg\nfrom pathlib import Path\n"
                   "out = Path(sys.argv[-1])\nout.mkdir(parents=True, exist_ok=True)\n"
                   "(out / 'probe.txt').write_text(f'{smtrain_probe_pkg.VALUE} {sys.prefix}')\n"})
    assert final["ProcessingJobStatus"] == "Completed", log_of(service, "with-reqs")
    value, prefix = (tmp_path / "store/out/probe.txt").read_text().split(" ", 1)
    assert value == "42"
    assert Path(prefix).parent == service.home.venvs  # a cached venv layered on the framework environment
    with pytest.raises(ImportError):
        __import__("smtrain_probe_pkg")  # the user's own environment is untouched


def test_a_stopped_job_is_stopped_and_uploads_nothing(service: LocalSageMaker, tmp_path: Path) -> None:
    script = write_script(tmp_path / "code", "import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    service.create_processing_job(**request("stopped", script, tmp_path))
    assert wait_until(lambda: "started" in log_of(service, "stopped"), 30)
    service.stop_processing_job(ProcessingJobName="stopped")
    assert wait_until(lambda: service.describe_processing_job(ProcessingJobName="stopped")["ProcessingJobStatus"]
                      == "Stopped", 30)
    assert not (tmp_path / "store/out").exists()


@pytest.mark.parametrize(("change", "says"), [
    (lambda p: p["ProcessingInputs"][0]["S3Input"].update(LocalPath="/tmp/code"), "under /opt/ml/processing/"),
    (lambda p: p["ProcessingInputs"][0]["S3Input"].update(S3InputMode="Pipe"), "S3InputMode 'Pipe'"),
    (lambda p: p["ProcessingOutputConfig"]["Outputs"][0]["S3Output"].update(S3UploadMode="Continuous"),
     "S3UploadMode 'Continuous'"),
    (lambda p: p["AppSpecification"].update(ImageUri="123.dkr.ecr.us-east-1.amazonaws.com/mine:1"), "Docker"),
])
def test_what_the_local_backend_cannot_run_is_refused_before_it_starts(service: LocalSageMaker, tmp_path: Path,
                                                                       change: Any, says: str) -> None:
    params = request("refused", write_script(tmp_path / "code", "print('ran')\n"), tmp_path)
    change(params)
    with pytest.raises(ClientError) as caught:
        service.create_processing_job(**params)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert says in caught.value.response["Error"]["Message"]
    assert not service.home.job_dir("refused", PROCESSING).exists()


HARD_CODED = """\
from pathlib import Path
rows = (Path("/opt/ml/processing/input/raw") / "a.csv").read_text()
out = Path("/opt/ml/processing/out")
(out / "copy.csv").write_text(rows)
"""


def test_a_script_that_hard_codes_opt_ml_processing_runs_unmodified(service: LocalSageMaker, tmp_path: Path) -> None:
    from smtrain.backends.local.jobs import sandbox

    if not sandbox.namespace().active:
        pytest.skip(f"no job namespace here: {sandbox.namespace().why}")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("a\n1\n")
    script = write_script(tmp_path / "code", HARD_CODED)
    final = run(service, request("hard-coded", script, tmp_path,
                                 inputs=[processing_input("raw", data.as_uri(), "/opt/ml/processing/input/raw")]))
    assert final["ProcessingJobStatus"] == "Completed", log_of(service, "hard-coded")
    assert (tmp_path / "store/out/copy.csv").read_text() == "a\n1\n"


def test_without_a_namespace_a_hard_coded_path_fails_saying_why(service: LocalSageMaker, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTRAIN_JOB_NAMESPACE", "off")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("a\n1\n")
    script = write_script(tmp_path / "code", HARD_CODED)
    final = run(service, request("no-namespace", script, tmp_path,
                                 inputs=[processing_input("raw", data.as_uri(), "/opt/ml/processing/input/raw")]))
    assert final["ProcessingJobStatus"] == "Failed"
    assert "/opt/ml" in final["FailureReason"] and "SMTRAIN_JOB_NAMESPACE" in final["FailureReason"]


HOSTED = """
import json, os, pathlib, sys
config = json.loads(pathlib.Path("/opt/ml/config/resourceconfig.json").read_text())
host = config["current_host"]
shard = sorted(str(p.relative_to(sys.argv[1])) for p in pathlib.Path(sys.argv[1]).rglob("*.csv"))
out = pathlib.Path("/opt/ml/processing/out")
(out / f"{host}.json").write_text(json.dumps({"hosts": config["hosts"], "shard": shard}))
(out / "same.txt").write_text(host)
"""


@pytest.mark.parametrize("namespace", ["auto", "off"])
def test_instance_count_runs_each_host_with_its_own_config_and_shard(service: LocalSageMaker, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     namespace: str) -> None:
    monkeypatch.setenv("SMTRAIN_JOB_NAMESPACE", namespace)
    data = tmp_path / "data"
    data.mkdir()
    for index in range(5):
        (data / f"part-{index}.csv").write_text(f"x\n{index}\n")
    script = write_script(tmp_path / "code", HOSTED if namespace == "auto" else HOSTED.replace(
        '"/opt/ml/config/resourceconfig.json"', 'os.environ["CONFIG"]').replace('"/opt/ml/processing/out"',
                                                                            'os.environ["OUT"]'))
    sharded = processing_input("raw", data.as_uri(), "/opt/ml/processing/input/raw")
    sharded["S3Input"]["S3DataDistributionType"] = "ShardedByS3Key"
    params = request(f"hosts-{namespace}", script, tmp_path, inputs=[sharded],
                     app={"ContainerArguments": ["/opt/ml/processing/input/raw"]})
    params["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = 3
    if namespace == "off":  # no /opt/ml: the script is told where its host's files are through its arguments
        params["AppSpecification"]["ContainerEntrypoint"] = [
            "sh", "-c", 'CONFIG="$1/../../../config/resourceconfig.json" OUT="$1/../../out" python3 "$0" "$1"',
            "/opt/ml/processing/input/code/job.py"]
    final = run(service, params)
    assert final["ProcessingJobStatus"] == "Completed", log_of(service, params["ProcessingJobName"])
    out = tmp_path / "store" / "out"
    seen = {host: json.loads((out / f"{host}.json").read_text()) for host in ("algo-1", "algo-2", "algo-3")}
    assert all(report["hosts"] == ["algo-1", "algo-2", "algo-3"] for report in seen.values())
    assert [seen[h]["shard"] for h in ("algo-1", "algo-2", "algo-3")] == [
        ["part-0.csv", "part-3.csv"], ["part-1.csv", "part-4.csv"], ["part-2.csv"]]
    assert (out / "same.txt").read_text() == "algo-3"  # every host uploads to one prefix: the last one wins

"""Local jobs at the real paths: each job's folder at /opt/ml, in a mount namespace of its own.

Scripts written for SageMaker's containers (tests/fixtures/optml/, after published AWS scripts)
hard-code /opt/ml/...; where Linux allows unprivileged user namespaces they run unmodified, and
concurrent jobs each see their own folder. With SMTRAIN_JOB_NAMESPACE=off (or where namespaces
are unavailable) a job runs with its folder's own paths, as before, and a failure on /opt/ml
says why and what to do. Nothing is ever written to the host's /opt/ml.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtrain.backends.local.jobs import enter_namespace, sandbox
from tests.functional.test_local_training import Jobs, members

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "optml"
HOST_OPT_ML = Path("/opt/ml")
needs_namespace = pytest.mark.skipif(not sandbox.namespace("auto").active,
                                     reason=f"no job namespace here: {sandbox.namespace('auto').why}")

DUMP_PATHS = """
import json, os
seen = {"cwd": os.getcwd(), "env": {k: v for k, v in os.environ.items() if k.startswith("SM_")},
        "pythonpath": os.environ["PYTHONPATH"], "listing": sorted(os.listdir("/opt/ml"))
        if os.path.isdir("/opt/ml") else None}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as f:
    json.dump(seen, f)
"""


@pytest.fixture(autouse=True)
def host_opt_ml_untouched() -> Iterator[None]:
    """The host's /opt/ml is the same after the test as before (on this machine, absent)."""
    before = HOST_OPT_ML.exists()
    yield
    assert HOST_OPT_ML.exists() == before, "a job wrote to the host's /opt/ml"


@pytest.fixture
def jobs(tmp_path: Path) -> Jobs:
    return Jobs(tmp_path)


def census_rows(count: int = 60) -> str:
    lines = ["age,education,class of worker,capital gains,capital losses,dividends from stocks,income"]
    for i in range(count):
        label = " 50000+." if i % 3 == 0 else " - 50000."
        lines.append(f"{20 + i % 50},{'BSc' if i % 2 else 'HS'},{'Private' if i % 4 else 'State'},"
                     f"{(i % 3) * 1000},0,{i % 5},{label}")
    return "\n".join(lines) + "\n"


def train_channel(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_features.csv").write_text("".join(f"{i % 7},{i % 3}\n" for i in range(40)))
    (folder / "train_labels.csv").write_text("".join(f"{int(i % 7 > 3)}\n" for i in range(40)))
    return folder


def script(name: str) -> str:
    return (FIXTURES / name).read_text()


def launch(job_folder: Path, *command: str, env: dict[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """What the supervisor runs: the launcher in front of the command."""
    return subprocess.run([sys.executable, "-I", str(sandbox.LAUNCHER), str(job_folder), "--", *command],
                          capture_output=True, text=True, timeout=120, cwd=cwd or job_folder, env=env, check=False)


# -- namespace available -------------------------------------------------------------------------------


@needs_namespace
def test_training_script_that_hard_codes_opt_ml_runs_unmodified(jobs: Jobs) -> None:
    jobs.data = train_channel(jobs.root / "features")
    job = jobs.run("census-train", script("census_train.py"))

    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert set(members(job["ModelArtifacts"]["S3ModelArtifacts"])) == {"model.joblib"}
    assert "train_accuracy=" in jobs.home.job_log("census-train").read_text()
    assert "Job folder at /opt/ml (a private mount namespace)" in jobs.home.job_log("census-train").read_text()


@needs_namespace
def test_the_script_sees_sagemakers_paths(jobs: Jobs) -> None:
    job = jobs.run("paths", DUMP_PATHS)
    seen = json.loads(members(job["ModelArtifacts"]["S3ModelArtifacts"])["seen.json"])
    job_dir = str(jobs.home.job_dir("paths"))

    assert seen["cwd"] == "/opt/ml/code"
    assert seen["pythonpath"].split(":")[0] == "/opt/ml/code"
    assert {"code", "input", "model", "output"} <= set(seen["listing"])
    env = seen["env"]
    assert (env["SM_MODEL_DIR"], env["SM_CHANNEL_TRAIN"]) == ("/opt/ml/model", "/opt/ml/input/data/train")
    assert (env["SM_OUTPUT_DATA_DIR"], env["SM_INPUT_CONFIG_DIR"]) == ("/opt/ml/output/data", "/opt/ml/input/config")
    assert json.loads(env["SM_TRAINING_ENV"])["model_dir"] == "/opt/ml/model"
    assert not [name for name, value in env.items() if job_dir in value]  # no host path left in SM_*


@needs_namespace
def test_concurrent_jobs_each_see_their_own_folder(jobs: Jobs, tmp_path: Path) -> None:
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    both_running = f"""
import os, sys, time
me = os.environ["TRAINING_JOB_NAME"]
open("/opt/ml/model/who.txt", "w").write(me)
open(os.path.join({str(meeting)!r}, me), "w").close()
deadline = time.time() + 60
while len(os.listdir({str(meeting)!r})) < 2 and time.time() < deadline:
    time.sleep(0.05)
sys.exit(0 if open("/opt/ml/model/who.txt").read() == me else 3)
"""
    for name in ("left", "right"):
        jobs.sm.create_training_job(**jobs.request(name, both_running))
    for name in ("left", "right"):
        job = jobs.wait(name, timeout=120)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        assert members(job["ModelArtifacts"]["S3ModelArtifacts"])["who.txt"] == name.encode()


@needs_namespace
def test_sdk_preprocessing_script_reads_and_writes_opt_ml_processing(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    for sub in ("processing/input", "processing/train", "processing/test", "code"):
        (folder / sub).mkdir(parents=True)
    (folder / "processing" / "input" / "census-income.csv").write_text(census_rows())
    (folder / "code" / "preprocessing.py").write_text(script("census_preprocessing.py"))

    ran = launch(folder, sys.executable, "/opt/ml/code/preprocessing.py", "--train-test-split-ratio", "0.25")

    assert ran.returncode == 0, ran.stderr
    written = {p.relative_to(folder / "processing").as_posix() for p in (folder / "processing").rglob("*.csv")}
    assert written == {"input/census-income.csv", "train/train_features.csv", "train/train_labels.csv",
                       "test/test_features.csv", "test/test_labels.csv"}
    assert len((folder / "processing" / "test" / "test_labels.csv").read_text().splitlines()) == 15


@needs_namespace
def test_pipelines_processing_script_creates_its_output_folders(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    (folder / "processing" / "input").mkdir(parents=True)
    rows = ["Card,MCC,Errors?,Use Chip,Is Fraud?"] + [
        f"{i % 4},{5000 + i},{'Bad PIN' if i % 5 == 0 else ''},Chip Transaction,{'Yes' if i % 9 == 0 else 'No'}"
        for i in range(50)]
    (folder / "processing" / "input" / "transactions.csv").write_text("\n".join(rows) + "\n")

    ran = launch(folder, sys.executable, str(FIXTURES / "transactions_processing.py"))

    assert ran.returncode == 0, ran.stderr
    assert "saved /opt/ml/processing/output/train/train.csv" in ran.stdout
    assert len((folder / "processing" / "output" / "test" / "test.csv").read_text().splitlines()) == 1 + 10


@needs_namespace
def test_environment_paths_are_rewritten_and_the_rest_kept(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    (folder / "code").mkdir(parents=True)
    env = {"PATH": os.environ["PATH"], "SM_MODEL_DIR": f"{folder}/model", "SM_OTHER": f"{folder}-other/x",
           "PYTHONPATH": f"{folder}/code:/elsewhere", "UNRELATED": f"{folder}/model"}
    show = "import json, os; print(json.dumps({'cwd': os.getcwd(), 'env': dict(os.environ)}))"

    ran = launch(folder, sys.executable, "-c", show, env=env, cwd=folder / "code")

    seen = json.loads(ran.stdout)
    assert seen["cwd"] == "/opt/ml/code"
    assert seen["env"]["SM_MODEL_DIR"] == "/opt/ml/model"
    assert seen["env"]["SM_OTHER"] == f"{folder}-other/x"  # another folder that merely starts alike
    assert seen["env"]["PYTHONPATH"] == "/opt/ml/code:/elsewhere"
    assert seen["env"]["UNRELATED"] == f"{folder}/model"  # only SM_*, SAGEMAKER_BASE_DIR and PYTHONPATH


# -- namespace off or unavailable ----------------------------------------------------------------------


@pytest.mark.skipif(HOST_OPT_ML.exists(), reason="this host has a real /opt/ml")
def test_forced_off_the_job_runs_as_before_and_the_failure_says_what_to_do(
        jobs: Jobs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.VARIABLE, "off")
    jobs.data = train_channel(jobs.root / "features")
    job = jobs.run("census-off", script("census_train.py"))

    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert "/opt/ml/input/data/train" in reason  # the script's own error, still there
    assert "SMTRAIN_JOB_NAMESPACE=off" in reason and "SM_MODEL_DIR" in reason
    assert reason.endswith('Hint "the script uses /opt/ml, which exists locally only in a job namespace, and this '
                           'job had none (SMTRAIN_JOB_NAMESPACE=off). Read the paths from SM_MODEL_DIR, '
                           'SM_CHANNEL_<NAME>, SM_OUTPUT_DATA_DIR (or argparse defaults from them), or unset '
                           'SMTRAIN_JOB_NAMESPACE (or set it to auto) on Linux"')
    assert len(reason) <= 1024
    assert "WARNING no private /opt/ml for this job (SMTRAIN_JOB_NAMESPACE=off)" in \
        jobs.home.job_log("census-off").read_text()


def test_forced_off_the_paths_are_the_job_folders(jobs: Jobs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.VARIABLE, "off")
    job = jobs.run("paths-off", DUMP_PATHS)
    seen = json.loads(members(job["ModelArtifacts"]["S3ModelArtifacts"])["seen.json"])
    job_dir = jobs.home.job_dir("paths-off")

    assert seen["cwd"] == str(job_dir / "code")
    assert seen["env"]["SM_MODEL_DIR"] == str(job_dir / "model")


def test_a_failure_elsewhere_gets_no_namespace_hint(jobs: Jobs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.VARIABLE, "off")
    job = jobs.run("plain-failure", "raise ValueError('bad column')\n")

    assert job["TrainingJobStatus"] == "Failed"
    assert "ValueError: bad column" in job["FailureReason"] and "Hint" not in job["FailureReason"]


def test_a_mount_that_fails_falls_back_to_the_folders_paths(tmp_path: Path) -> None:
    """The probe passed but this job's bind cannot be made (here: no such folder): it runs as without one."""
    missing = tmp_path / "gone"
    env = {"PATH": os.environ["PATH"], "SM_MODEL_DIR": f"{missing}/model"}
    ran = launch(missing, sys.executable, "-c", "import os; print(os.environ['SM_MODEL_DIR'])", env=env,
                 cwd=tmp_path)

    assert ran.returncode == 0
    assert ran.stdout.strip() == f"{missing}/model"
    assert f"smtrain: WARNING no private /opt/ml for this job, its folder stays at {missing}" in ran.stderr


def test_without_linux_there_is_no_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.probe.cache_clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    try:
        state = sandbox.namespace("auto")
        assert state == sandbox.Namespace(False, "darwin has no mount namespaces (Linux only)")
        assert sandbox.job_command(["python", "train.py"], Path("/x/job"), mode="auto") == ["python", "train.py"]
    finally:
        monkeypatch.undo()
        sandbox.probe.cache_clear()


def test_unavailable_namespaces_name_the_kernel_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "probe", lambda: sandbox.Namespace(False, "unshare(CLONE_NEWUSER|CLONE_NEWNS): "
                                                                          "Operation not permitted"))
    tail = ["Traceback (most recent call last):", "FileNotFoundError: [Errno 2] No such file or directory: "
            "'/opt/ml/model/model.joblib'"]

    hint = sandbox.failure_hint(tail, mode="auto")

    assert "(unshare(CLONE_NEWUSER|CLONE_NEWNS): Operation not permitted)" in hint
    assert "kernel.unprivileged_userns_clone=1" in hint and "apparmor_restrict_unprivileged_userns=0" in hint
    assert sandbox.failure_hint(["ValueError: no"], mode="auto") == ""


def test_probe_reports_why_when_it_cannot(tmp_path: Path) -> None:
    """The probe's answer on this machine is a yes, or a reason."""
    ran = subprocess.run([sys.executable, "-I", str(enter_namespace.__file__), "--probe"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert ran.returncode in (0, 1)
    assert (ran.returncode == 0) == sandbox.probe().active
    assert ran.returncode == 0 or ran.stderr.strip()


@needs_namespace
def test_a_notebook_instances_metadata_stays_visible(tmp_path: Path) -> None:
    """Where /opt/ml/metadata exists (a notebook instance), the job still sees it, as SDK local mode mounts it.

    The notebook instance is played by an outer namespace whose /opt/ml holds metadata/."""
    notebook = tmp_path / "notebook-opt-ml"
    (notebook / "metadata").mkdir(parents=True)
    (notebook / "metadata" / "resource-metadata.json").write_text('{"ResourceName": "nb"}')
    job = tmp_path / "job"
    (job / "model").mkdir(parents=True)
    inner = [sys.executable, "-I", str(sandbox.LAUNCHER), str(job), "--", sys.executable, "-c",
             "import os; print(sorted(os.listdir('/opt/ml'))); print(open('/opt/ml/metadata/resource-metadata.json')"
             ".read())"]

    ran = launch(notebook, *inner, cwd=tmp_path)

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["['metadata', 'model']", '{"ResourceName": "nb"}']
    assert not (notebook / "model").exists()  # the job's writes land in its own folder


SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.fixture
def nobodys_folder() -> Iterator[Path]:
    """A temporary folder that nobody (uid 65534) can reach: pytest's own are its owner's only."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="smtrain-nobody-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@needs_namespace
@pytest.mark.skipif(os.getuid() != 0 or not Path("/usr/bin/setpriv").exists() or not SYSTEM_PYTHON.exists(),
                    reason="needs root to become an unprivileged user (setpriv), and a system Python")
def test_an_unprivileged_user_gets_the_namespace_too(nobodys_folder: Path) -> None:
    """No root needed: as nobody, the job still sees its folder at /opt/ml, and keeps its own uid there."""
    tmp_path = nobodys_folder
    folder = tmp_path / "job"
    (folder / "model").mkdir(parents=True)
    for path in (folder, folder / "model"):
        os.chown(path, 65534, 65534)
    launcher = tmp_path / "enter_namespace.py"  # where nobody can read it (the project may sit under /root)
    launcher.write_text(Path(sandbox.LAUNCHER).read_text())
    launcher.chmod(0o644)
    write = "import os; open('/opt/ml/model/x', 'w').write('ok'); print(os.getuid())"

    ran = subprocess.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          str(SYSTEM_PYTHON), "-I", str(launcher), str(folder), "--", str(SYSTEM_PYTHON), "-c", write],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                         check=False)

    assert (ran.returncode, ran.stderr) == (0, "")
    assert ran.stdout.strip() == "65534"
    assert (folder / "model" / "x").read_text() == "ok"
    assert (folder / "model" / "x").stat().st_uid == 65534


def test_a_job_whose_own_namespace_failed_gets_the_hint_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "probe", lambda: sandbox.Namespace(True))
    tail = [enter_namespace.WARNING.format(folder="/h/jobs/j", why="mount tmpfs on /opt: Operation not permitted"),
            "Traceback (most recent call last):",
            "FileNotFoundError: [Errno 2] No such file or directory: '/opt/ml/input/data/train/x.csv'"]

    hint = sandbox.failure_hint(tail, mode="auto")

    assert "this job had none (mount tmpfs on /opt: Operation not permitted)" in hint


@needs_namespace
def test_the_sdk_preprocessing_script_runs_unmodified_as_a_processing_job(tmp_path: Path) -> None:
    """`sm.process` with the script as SKLearnProcessor.run gets it: the input at /opt/ml/processing/input,
    outputs from /opt/ml/processing/train and /test, each a folder the job made (the script makes none)."""
    from smtrain.api.session import Session
    from smtrain.core.uris import to_path

    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "census-income.csv").write_text(census_rows())
    (tmp_path / "preprocessing.py").write_text(script("census_preprocessing.py"))
    session = Session(quiet=True, home=str(tmp_path / ".smtrain"), framework_version="current")
    job = session.process(str(tmp_path / "preprocessing.py"), job_name="census-prep",
                          inputs={"raw": f"{tmp_path / 'raw'}:/opt/ml/processing/input"},
                          outputs={"train": "/opt/ml/processing/train", "test": "/opt/ml/processing/test"},
                          arguments=["--train-test-split-ratio", "0.25"])
    assert job.status == "Completed", job.description.get("FailureReason")
    outputs = {o["OutputName"]: to_path(o["S3Output"]["S3Uri"])
               for o in job.description["ProcessingOutputConfig"]["Outputs"]}
    assert {p.name for p in outputs["train"].iterdir()} == {"train_features.csv", "train_labels.csv"}
    assert len((outputs["test"] / "test_labels.csv").read_text().splitlines()) == 15

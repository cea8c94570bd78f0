"""Every code block in the README runs as written (in the manner of sqlite-utils' documentation tests).

A block runs in a fresh copy of the project with a clean environment: bash blocks
with ``bash -euo pipefail``, Python blocks with this interpreter. A block preceded
by ``<!-- readme-test: skip: WHY -->`` is not run here and must say why (where it
is covered instead); ``<!-- readme-test: sagemaker -->`` runs against a moto server;
``<!-- readme-test: wheel -->`` runs outside the checkout, in a fresh venv holding the wheel built from
the checkout (its ``pip install smtrain`` finds that wheel, never an index's);
``<!-- readme-test: shells -->`` runs each line in the shell its comment names, then
asks that shell to complete ``smtrain dep``.

A sagemaker block runs as written, every line of it: the test only supplies what a
user's shell and account would (``AWS_ENDPOINT_URL`` pointing at moto, dummy
credentials, a region, and the ``SageMakerRole`` and ``penguins-sfn`` roles the blocks name).
``SMTRAIN_POLL_SECONDS=0`` because moto answers at once. What moto does not do,
and so what these runs do not show:

- a training job is ``Completed`` the moment it is created: no instance starts,
  ``penguins.py`` never runs, there is no CloudWatch log and ``model.tar.gz`` is
  never written (the local blocks train for real; tests/e2e/test_cli_sagemaker.py
  follows a job's log, failure and stop on moto);
- an endpoint is ``InService`` at once and serves nothing: moto answers every
  InvokeEndpoint with a canned body, so ``smtrain predict``'s output is not checked
  here (tests/e2e/test_cli_sagemaker.py checks the request it sends);
- a Step Functions execution is recorded, not run (moto's ``execute_state_machine``
  is off), and its history is moto's canned one: ``pipeline status`` runs, its
  states are not checked (tests/functional/test_pipeline_moto.py runs the exported
  definition on moto; the local block runs it for real);
- moto accepts any role ARN: the state machine's role is not checked against IAM.

What is checked is what the commands left in the account: the requests as moto
recorded their effects (the training job, the registered package, the endpoint
gone again, the state machine and its execution).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.helpers import reset_moto

pytestmark = pytest.mark.e2e

BLOCK = re.compile(
    r"(?:<!-- readme-test: (?P<mode>[^>]*?) -->\n)?^```(?P<lang>bash|python)\n(?P<code>.*?)^```$", re.S | re.M
)
README = REPO / "README.md"


def blocks() -> list[tuple[int, str, str, str]]:
    text = README.read_text(encoding="utf-8")
    return [(text[: m.start("code")].count("\n") + 1, m["mode"] or "local", m["lang"], m["code"])
            for m in BLOCK.finditer(text)]


def test_every_block_is_run_or_says_why_not() -> None:
    found = blocks()
    assert len(found) >= 5
    for line, mode, _, _ in found:
        run = mode in ("local", "sagemaker", "shells", "wheel")
        assert run or re.fullmatch(r"skip: .{10,}", mode), f"README.md:{line}: {mode!r}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(REPO / "entry_points", root / "entry_points")
    return root


def environment(project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(project.parent)
    return env


@pytest.mark.parametrize(("line", "mode", "lang", "code"), [b for b in blocks() if b[1] == "local"],
                         ids=lambda value: f"README.md:{value}" if isinstance(value, int) else "")
def test_local_block_runs_as_written(project: Path, line: int, mode: str, lang: str, code: str) -> None:
    argv = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    env = environment(project)
    try:
        done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run([shutil.which("smtrain", path=env["PATH"]) or "smtrain", "teardown", "--all"],
                       cwd=project, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr


# -- the published package's block ------------------------------------------------------


@pytest.mark.parametrize(("line", "mode", "lang", "code"), [b for b in blocks() if b[1] == "wheel"],
                         ids=lambda value: f"README.md:{value}" if isinstance(value, int) else "")
def test_published_package_block_runs_from_the_wheel(tmp_path: Path, line: int, mode: str, lang: str,
                                                    code: str) -> None:
    """Slow (a wheel built, its dependencies installed into a fresh venv, from pip's cache when warm)."""
    wheels, venv, user = tmp_path / "wheels", tmp_path / "venv", tmp_path / "user"
    pip_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_", "PIP_"))}
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
                           env=pip_env, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("smtrain-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                               env=pip_env, capture_output=True, text=True, timeout=1200)
    assert installed.returncode == 0, installed.stderr
    user.mkdir()
    env = {**pip_env, "HOME": str(tmp_path), "PATH": f"{venv / 'bin'}{os.pathsep}{pip_env.get('PATH', '')}",
           "VIRTUAL_ENV": str(venv), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    try:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=user, env=env, capture_output=True,
                              text=True, timeout=600)
    finally:
        subprocess.run([str(venv / "bin" / "smtrain"), "teardown", "--all"], cwd=user / "demo", env=env,
                       capture_output=True, timeout=120)
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stdout}\n{done.stderr}"
    assert "test accuracy:" in done.stderr and "Traceback" not in done.stderr
    assert "packaged example" not in done.stderr  # it trained the project's own copy
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import smtrain; print(smtrain.__file__)"],
                           cwd=user, env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    assert where.startswith(str(venv)), where  # the wheel ran, not the checkout


# -- blocks run against a moto server -------------------------------------------------

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
# Distinctive dummy credentials, so that the test can tell they were never printed.
ACCESS_KEY, SECRET_KEY = "AKIAREADMEDUMMYKEY01", "readme-test-dummy-secret-access-key-0123"


def aws_client(moto_url: str, service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=REGION, endpoint_url=moto_url, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY)


@pytest.fixture
def account(moto_url: str) -> Iterator[str]:
    """An empty account holding the execution role the README names."""
    reset_moto(moto_url)
    iam = aws_client(moto_url, "iam")
    for role, service in (("SageMakerRole", "sagemaker"), ("penguins-sfn", "states")):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
            "Statement": [{"Effect": "Allow", "Principal": {"Service": f"{service}.amazonaws.com"},
                           "Action": "sts:AssumeRole"}]}))
    yield moto_url
    reset_moto(moto_url)


def aws_environment(project: Path, moto_url: str) -> dict[str, str]:
    """What a user's shell would hold, pointed at moto: a region, credentials, no config files of the developer's."""
    env = environment(project)
    none = str(project.parent / "no-aws-config")
    env.update(AWS_ENDPOINT_URL=moto_url, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=none,
               AWS_SHARED_CREDENTIALS_FILE=none, SMTRAIN_POLL_SECONDS="0")
    return env


def check_training_block(moto_url: str) -> None:
    sagemaker = aws_client(moto_url, "sagemaker")
    job = sagemaker.describe_training_job(TrainingJobName="penguins-sm")
    assert job["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"  # the name, expanded through IAM
    assert job["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert job["EnableManagedSpotTraining"] is True
    assert job["HyperParameters"]["C"] == "0.5"
    packages = sagemaker.list_model_packages(ModelPackageGroupName="penguins")["ModelPackageSummaryList"]
    assert [p["ModelApprovalStatus"] for p in packages] == ["Approved"]
    assert sagemaker.list_endpoints()["Endpoints"] == []  # torn down by the block's last line
    assert sagemaker.list_models()["Models"] == []


def check_pipeline_block(moto_url: str) -> None:
    states = aws_client(moto_url, "stepfunctions")
    (machine,) = states.list_state_machines()["stateMachines"]
    assert machine["name"] == "penguins"
    described = states.describe_state_machine(stateMachineArn=machine["stateMachineArn"])
    assert described["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/penguins-sfn"
    assert "createTrainingJob.sync" in described["definition"]
    (execution,) = states.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    started = states.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(started["input"])["instance_type"] == "ml.m5.xlarge"


SAGEMAKER_CHECKS = {"smtrain fit ": check_training_block, "smtrain pipeline deploy ": check_pipeline_block}


@pytest.mark.parametrize(("line", "mode", "lang", "code"), [b for b in blocks() if b[1] == "sagemaker"],
                         ids=lambda value: f"README.md:{value}" if isinstance(value, int) else "")
def test_sagemaker_block_runs_as_written_against_moto(project: Path, account: str, line: int, mode: str,
                                                      lang: str, code: str) -> None:
    (check,) = [check for command, check in SAGEMAKER_CHECKS.items() if command in code]
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=project,
                          env=aws_environment(project, account), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert ACCESS_KEY not in done.stdout + done.stderr and SECRET_KEY not in done.stdout + done.stderr
    check(account)


def test_the_readme_runs_sagemaker_blocks() -> None:
    """The AWS sections are run, not skipped: one block per kind of check above."""
    codes = [code for _, mode, _, code in blocks() if mode == "sagemaker"]
    assert sorted(command for command in SAGEMAKER_CHECKS for code in codes if command in code) == sorted(
        SAGEMAKER_CHECKS)


# -- the shell completion block ------------------------------------------------------------

# How each shell is started as a fresh user's would be (no rc files), what the README's line
# presumes (zsh: compinit), and how the test then asks it for completions.
SHELLS = {
    "bash": (["bash", "--norc", "-c"], "", 'COMP_WORDS=(smtrain dep); COMP_CWORD=1; _smtrain_completion smtrain\n'
                                           'printf "%s\\n" "${COMPREPLY[@]}"'),
    # zsh completes only inside its line editor: check that the function is registered for smtrain.
    "zsh": (["zsh", "-f", "-c"], "autoload -Uz compinit && compinit -u -D", "print -r -- ${_comps[smtrain]}"),
    "fish": (["fish", "--no-config", "-c"], "", 'complete -C "smtrain dep"'),
}
EXPECTED = {"bash": "deploy", "zsh": "_smtrain_completion", "fish": "deploy\tServe a completed job's model"}


def completion_lines() -> dict[str, str]:
    """The completion block's lines by the shell each one's comment names."""
    (code,) = [code for _, mode, _, code in blocks() if mode == "shells"]
    found = {}
    for line in filter(str.strip, code.splitlines()):
        shell = re.search(r"#\s*(\w+):", line)
        assert shell, f"README.md: completion line names no shell: {line}"
        found[shell[1]] = line
    return found


def test_completion_block_covers_bash_zsh_and_fish() -> None:
    assert sorted(completion_lines()) == sorted(SHELLS)


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_completion_line_works_in_its_shell(project: Path, shell: str) -> None:
    argv, prelude, probe = SHELLS[shell]
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed here")
    project.mkdir(exist_ok=True)
    script = "\n".join(part for part in (prelude, completion_lines()[shell], probe) if part)
    done = subprocess.run([*argv, script], cwd=project, env=environment(project), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert EXPECTED[shell] in done.stdout.splitlines()[0], done.stdout
    assert "Usage:" not in done.stdout  # completion, not the help text

"""A job trained and served on a framework version whose scikit-learn differs from this environment's.

This builds one real environment (scikit-learn 1.4.2 and the 1.4-2 image's
pins, from PyPI) into pytest's cache directory, so only the first run pays for
it; the bench (bench/framework_env.py) can fill the same cache.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest

from smtrain.backends.local.environments import frameworks
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e
VERSION = "1.4-2"
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "parity" / "import_time_env.py"


@pytest.mark.skipif(frameworks.python_version() not in frameworks.table()[VERSION].wheel_pythons,
                    reason=f"scikit-learn for {VERSION} has no wheel for this Python")
def test_train_and_serve_on_the_image_scikit_learn(cli: Cli, workdir: Path, request: pytest.FixtureRequest) -> None:
    cli.env[frameworks.CACHE_VARIABLE] = str(request.config.cache.mkdir("smtrain-frameworks"))
    cli.env["SMTRAIN_FRAMEWORK_VERSION"] = VERSION
    source = workdir / "parity"
    source.mkdir()
    shutil.copy(FIXTURE, source / FIXTURE.name)

    fit = cli("fit", "--entry-point", FIXTURE.name, "--source-dir", str(source), "--job-name", "on-1-4-2",
              timeout=3000)
    assert fit.code == 0, fit.err[-3000:]
    deploy = cli("deploy", "on-1-4-2", "--json", timeout=600)
    assert deploy.code == 0, deploy.err[-3000:]

    import smtrain

    description = smtrain.Session(home=cli.env["SMTRAIN_HOME"], quiet=True).job("on-1-4-2").description
    ran = description["SmtrainEnvironment"]
    image = frameworks.table()[VERSION]
    assert (ran["FrameworkVersion"], ran["Environment"]) == (VERSION, "built")
    assert ran["Libraries"]["scikit-learn"] == image.pinned("scikit-learn") == "1.4.2"
    assert ran["Libraries"]["numpy"] == image.pinned("numpy")
    assert ran["Libraries"]["sagemaker-training"] == "4.8.0"
    other = frameworks.image_interpreter(image)  # built with the image's Python 3.10 where the machine has it
    assert ran["Python"].rsplit(".", 1)[0] == (other.minor if other else frameworks.python_version())
    shown = cli("show", "on-1-4-2", "--json").json()  # the run record says which libraries ran, too
    assert shown["versions"]["scikit-learn"] == "1.4.2" and shown["versions"]["python"] == ran["Python"]
    assert shown["versions"]["python from"] == (other.found_by if other else "this interpreter")

    runtime = boto3.client("sagemaker-runtime", endpoint_url=deploy.json()["Url"], region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
    answer = runtime.invoke_endpoint(EndpointName="on-1-4-2", Body=b"[[1, 2]]", ContentType="application/json")
    versions = json.loads(answer["Body"].read())
    assert versions["trained"]["sklearn"] == versions["served"]["sklearn"] == "1.4.2"
    assert versions["trained"]["numpy"] == versions["served"]["numpy"] == image.pinned("numpy")


@pytest.mark.skipif(frameworks.python_version() in frameworks.table()["0.23-1"].wheel_pythons,
                    reason="0.23-1 installs on this Python")
def test_a_version_this_python_cannot_run_is_a_usage_error(cli: Cli, workdir: Path) -> None:
    fit = cli("fit", "--entry-point", "penguins.py", "--source-dir", "entry_points", "--framework-version", "0.23-1",
              "--job-name", "too-old")

    assert fit.code == 2, fit.err
    assert "--framework-version: scikit-learn framework version 0.23-1" in fit.err
    assert f"on this Python use --framework-version {' or '.join(frameworks.installable_versions())}" in fit.err
    assert "rejected" not in fit.err and "unexpected" not in fit.err and "Traceback" not in fit.err
    assert cli("ls", "--json").out.strip() == ""  # no job was created

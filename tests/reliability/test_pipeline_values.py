"""Values a pipeline refuses (non-JSON numbers, out-of-range flags, secret-looking --env) and a gate that
fails closed on a non-finite metric."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import smtrain
from smtrain.core.errors import UsageError
from smtrain.pipeline.build import looks_secret
from smtrain.pipeline.spec import Gate
from smtrain.pipeline.states import choose
from tests.e2e.conftest import Cli, cli, workdir  # noqa: F401  (fixtures)
from tests.pipeline_examples import penguins

BASE = ["pipeline", "export", "--name", "p", "--entry-point", "penguins.py", "--source-dir", "entry_points"]
CHANNEL = ["--channel", "train=s3://bucket/train/"]
GATE = ["--metric-definition", "acc=acc=([0-9.]+)", "--gate-metric", "acc"]


@pytest.mark.parametrize(("flags", "message"), [
    ([*CHANNEL, *GATE, "--gate-threshold", "nan"], "'--gate-threshold': nan is not a finite number"),
    ([*CHANNEL, *GATE, "--gate-threshold", "inf"], "'--gate-threshold': inf is not a finite number"),
    ([*CHANNEL, *GATE, "--gate-threshold", "-inf"], "'--gate-threshold': -inf is not a finite number"),
    ([*CHANNEL, *GATE, "--gate-threshold", "1e999"], "'--gate-threshold': inf is not a finite number"),
    ([*CHANNEL, "--timeout", "0"], "'--timeout': 0 is not in the range 1<=x<=99999999"),
    ([*CHANNEL, "--ttl", "-100"], "'--ttl': -100 is not in the range x>=0"),
    ([*CHANNEL, "--serving-instance-count", "0"], "'--serving-instance-count': 0 is not in the range x>=1"),
    ([*CHANNEL, "--workers", "-1"], "'--workers': -1 is not in the range x>=0"),
    ([*CHANNEL, "--serverless-memory", "-5"], "'--serverless-memory': -5 is not in the range x>=0"),
    ([], "--channel: no input channel given"),
])
def test_export_refuses_what_aws_would_refuse_or_json_cannot_hold(cli: Cli, workdir: Path, flags: list[str],  # noqa: F811
                                                                 message: str) -> None:
    result = cli(*BASE, *flags, "-o", "out.asl.json")
    assert result.code == 2, result.err
    assert message in result.err, result.err
    assert "unexpected" not in result.err and "Traceback" not in result.err
    assert not (workdir / "out.asl.json").exists() and not list(workdir.glob("*.partial"))


@pytest.mark.parametrize("text", ['{"threshold": NaN}', '{"threshold": -Infinity}', '{"threshold": 1e400}'])
def test_start_refuses_non_json_input_before_any_aws_call(cli: Cli, text: str) -> None:  # noqa: F811
    result = cli("pipeline", "start", "--backend", "sagemaker", "--region", "us-east-1", "--name", "p",
                 "--input", text)
    assert result.code == 2, result.err
    assert "--input: the input is not JSON" in result.err and "unexpected" not in result.err


def test_the_python_api_refuses_them_too(home: Path) -> None:
    session = smtrain.Session(quiet=True)
    with pytest.raises(UsageError, match="the gate threshold must be a finite number, not nan"):
        penguins(session, gate=Gate("train:accuracy", math.nan))
    with pytest.raises(UsageError, match="--serving-instance-count must be a whole number from 1"):
        penguins(session, instance_count=0)
    with pytest.raises(UsageError, match="--channel: no input channel given"):
        from smtrain.pipeline.build import pipeline_spec

        pipeline_spec(session, name="p", entry_point="penguins.py", fit={"source_dir": "entry_points", "channels": {}},
                      group="p", approve=False, deploy={}, gate=Gate(), timeout_seconds=60)


@pytest.fixture
def gated(home: Path) -> dict[str, Any]:
    return penguins(smtrain.Session(quiet=True), gate=Gate("train:accuracy", 0.5, champion=True)).definition


@pytest.mark.parametrize("metric", [math.nan, math.inf, -math.inf, None])
@pytest.mark.parametrize("minimize", [False, True])
def test_a_gate_against_a_non_finite_metric_fails_closed(home: Path, metric: Any, minimize: bool) -> None:
    definition = penguins(smtrain.Session(quiet=True),
                          gate=Gate("train:accuracy", 0.5, champion=True, minimize=minimize)).definition
    data = {"metric": {"value": metric}, "args": {"threshold": 0.5}, "champion": {"value": 0.7}}
    assert choose(definition["States"]["Check threshold"], data, {}) == "Reject"
    assert choose(definition["States"]["Beat champion"], data, {}) == "Reject"
    champion_diverged = {"metric": {"value": 0.9}, "champion": {"value": metric}}
    assert choose(definition["States"]["Beat champion"], champion_diverged, {}) == "Reject"  # cannot compare


# -- B10: secrets in exports ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "secret"), [
    ("DB_PASSWORD", True), ("GITHUB_TOKEN", True), ("api_key", True), ("apiKey", True), ("AWS_SECRET_ACCESS_KEY", True),
    ("MY_CREDENTIALS", True), ("client-secret", True), ("Password", True), ("STRIPE_KEYS", True),
    ("MONKEY", False), ("KEYBOARD_LAYOUT", False), ("TOKENIZER_PATH", False), ("PASSWORDLESS", False),
    ("LOG_LEVEL", False),
])
def test_secret_looking_names_are_matched_as_name_parts(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_a_secret_looking_env_is_refused_in_an_export(cli: Cli, workdir: Path) -> None:  # noqa: F811
    for output_format in ("asl", "cfn"):
        result = cli(*BASE, *CHANNEL, "--env", "DB_PASSWORD=hunter2", "--format", output_format, "-o", "out.json")
        assert result.code == 2, result.err
        assert "--env DB_PASSWORD looks like a secret" in result.err
        assert "Secrets Manager or SSM Parameter Store" in result.err and "--allow-plain-env" in result.err
        assert "hunter2" not in result.err and not (workdir / "out.json").exists()


def test_a_reference_or_allow_plain_env_exports(cli: Cli, workdir: Path) -> None:  # noqa: F811
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
    referenced = cli(*BASE, *CHANNEL, "--env", f"DB_PASSWORD={arn}")
    assert referenced.code == 0, referenced.err
    assert json.loads(referenced.out)["States"]["Train"]["Parameters"]["Environment"]["DB_PASSWORD"] == arn
    allowed = cli(*BASE, *CHANNEL, "--env", "DB_PASSWORD=not-a-secret", "--allow-plain-env")
    assert allowed.code == 0, allowed.err
    assert json.loads(allowed.out)["States"]["Train"]["Parameters"]["Environment"]["DB_PASSWORD"] == "not-a-secret"


def test_deploy_refuses_it_before_any_aws_call(cli: Cli) -> None:  # noqa: F811
    result = cli("pipeline", "deploy", "--backend", "sagemaker", "--region", "us-east-1", "--state-machine-role", "r",
                 "--name", "p", "--entry-point", "penguins.py", "--source-dir", "entry_points", *CHANNEL,
                 "--env", "API_TOKEN=abc")
    assert result.code == 2, result.err
    assert "--env API_TOKEN looks like a secret" in result.err

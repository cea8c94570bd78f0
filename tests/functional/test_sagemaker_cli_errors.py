"""AWS errors moto cannot produce, as the `smtrain` command reports them.

The CLI runs in-process against a moto server, and one operation is answered
the way AWS answers it: a role SageMaker cannot assume, a throttled call. The
answer is injected at the HTTP layer (botocore's ``before-send`` event), so
botocore parses it and its standard retry mode retries it exactly as it
would a real response (with the backoff delay set to zero).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from botocore.awsrequest import AWSResponse

from smtrain.aws.session import AwsSession
from smtrain.cli import main
from tests.conftest import REPO
from tests.helpers import reset_moto

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/NoSuchRole"
BUCKET = "smtrain-errors"


class Body:
    """The raw stream botocore reads a response body from."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


class Answer(Protocol):
    def __call__(self, operation: str, status: int, code: str, message: str, times: int = 0) -> Counter[str]: ...


@pytest.fixture
def answer(monkeypatch: pytest.MonkeyPatch) -> Answer:
    """``answer(operation, status, code, message, times=...)``: SageMaker answers ``operation`` with that error."""
    canned: dict[str, tuple[int, str, str, int]] = {}
    attempts: Counter[str] = Counter()

    def respond(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation not in canned:
            return None
        attempts[operation] += 1
        status, code, message, times = canned[operation]
        if times and attempts[operation] > times:
            return None  # later attempts reach moto
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "req-1"}
        return AWSResponse(request.url, status, headers, Body(body))

    original = AwsSession.client

    def client(self: AwsSession, service: str) -> Any:
        created = service not in self._clients
        made = original(self, service)
        if created and service == "sagemaker":
            made.meta.events.register("before-send.sagemaker", respond)
        return made

    monkeypatch.setattr(AwsSession, "client", client)
    # Retry at once: the number of attempts is what matters here, not the wait.
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)

    def add(operation: str, status: int, code: str, message: str, times: int = 0) -> Counter[str]:
        canned[operation] = (status, code, message, times)
        return attempts

    return add


@pytest.fixture
def smtrain(moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """Run `smtrain ARGS` in-process on the sagemaker backend; returns (exit code, stdout, stderr)."""
    import boto3

    for name, value in {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
                        "SMTRAIN_BACKEND": "sagemaker", "SMTRAIN_ROLE": ROLE, "SMTRAIN_BUCKET": BUCKET,
                        "SMTRAIN_POLL_SECONDS": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "entry_points", tmp_path / "entry_points")
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        out, err = capsys.readouterr()
        return int(exited.value.code or 0), out, err

    yield run
    reset_moto(moto_url)


def assert_clear_error(result: tuple[int, str, str], code: int, *phrases: str) -> None:
    exit_code, _, err = result
    assert exit_code == code, err
    assert err.startswith("error: ")
    for phrase in phrases:
        assert phrase in err, err
    assert "\n  hint: " in err
    assert "Traceback" not in err


def test_a_role_sagemaker_cannot_assume(smtrain: Callable[..., tuple[int, str, str]], answer: Answer) -> None:
    message = (f"Could not assume role {ROLE}. Please ensure that the role exists and allows principal "
               "'sagemaker.amazonaws.com' to assume the role.")
    attempts = answer("CreateTrainingJob", 400, "ValidationException", message)
    result = smtrain("fit", "--entry-point", "penguins.py", "--source-dir", "entry_points",
                     "--channel", f"train=s3://{BUCKET}/data/train/", "--job-name", "job-1")
    assert_clear_error(result, 1, "SageMaker cannot use the execution role", "role/NoSuchRole",
                       "SMTRAIN_ROLE", "trusts sagemaker.amazonaws.com")
    assert attempts["CreateTrainingJob"] == 1  # a validation error is not retried


def test_a_call_throttled_beyond_the_retries(smtrain: Callable[..., tuple[int, str, str]], answer: Answer) -> None:
    attempts = answer("Search", 400, "ThrottlingException", "Rate exceeded")
    result = smtrain("ls")
    assert_clear_error(result, 1, "AWS throttled Search even after retries: Rate exceeded",
                       "wait a minute and retry")
    assert attempts["Search"] == 3  # botocore's standard mode: three attempts


def test_a_call_throttled_once_succeeds_on_retry(smtrain: Callable[..., tuple[int, str, str]],
                                                  answer: Answer) -> None:
    attempts = answer("Search", 400, "ThrottlingException", "Rate exceeded", times=1)
    exit_code, out, err = smtrain("ls", "--json")
    assert exit_code == 0, err
    assert out == ""  # no runs: no JSON records
    assert attempts["Search"] == 2

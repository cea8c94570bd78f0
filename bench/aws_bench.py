"""Helpers for the benches that talk to AWS APIs: a local moto server, its account, the baseline venv.

The moto server runs as its own process (``moto_server`` from the smtrain
virtual environment) on a free loopback port, so it never shares an
interpreter with the harness; every tool under test reaches it the way users
reach any AWS-compatible endpoint, through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import bench_env

BENCH = Path(__file__).resolve().parent
BASELINE_VENV = BENCH / ".venv-sdk2"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ROLE_NAME = "SageMakerRole"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"  # the SDK-style default bucket both tools pick
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
REQUEST_LINE = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) \S+ HTTP/')


def baseline_executable(name: str) -> Path:
    """A program of the baseline venv (``python``, ``aws``); exits with the setup command if missing."""
    path = BASELINE_VENV / "bin" / name
    if not path.exists():
        sys.exit(f"{path} is missing: run `bash bench/setup_baselines.sh` first")
    return path


def smtrain_executable() -> Path:
    path = Path(sys.executable).with_name("smtrain")
    if not path.exists():
        sys.exit("smtrain is not installed beside this interpreter: activate smtrain's virtual environment")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MotoServer:
    """A ``moto_server`` subprocess; its request log is kept to count the requests a run makes."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        program = Path(sys.executable).with_name("moto_server")
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen([str(program), "-H", "127.0.0.1", "-p", str(self.port)],
                                             stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=1).close()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    sys.exit(f"moto_server did not start; see {self.log_path}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def requests_logged(self) -> int:
        """How many HTTP requests the server has answered so far (from its werkzeug log)."""
        return len(REQUEST_LINE.findall(self.log_path.read_text(errors="replace")))


@contextmanager
def moto_server(log_dir: Path) -> Iterator[MotoServer]:
    server = MotoServer(log_dir / "moto.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def aws_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of every process under test: the moto endpoint, dummy credentials, one region,
    no AWS config file or profile of the developer's."""
    return bench_env(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        **extra,
    )


def client(url: str, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=url, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def create_account(url: str) -> None:
    """What a user has before the first run: an execution role and the default bucket."""
    client(url, "iam").create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))
    client(url, "s3").create_bucket(Bucket=BUCKET)


def delete_prefix(url: str, bucket: str, prefix: str) -> int:
    """Delete every object under ``prefix`` (frees the moto server's memory); returns how many."""
    s3 = client(url, "s3")
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted

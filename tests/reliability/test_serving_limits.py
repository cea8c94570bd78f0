"""Serving under hostile requests and models: header floods, odd names and charsets, huge answers, leaking workers.

One endpoint ("limits", one worker, a worker may grow by 96 MiB) whose script echoes what it decoded, answers
N bytes on request, or leaks 32 MiB a call and tells its pid. Every wait is bounded; no timing is asserted.
"""

from __future__ import annotations

import json
import socket
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import psutil
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from smtrain.backends.local.jobs.processes import group_members, stop_group
from smtrain.backends.local.service import LocalSageMaker
from smtrain.backends.local.serving.runtime import MAX_RESPONSE
from smtrain.backends.local.serving.runtime_client import LocalRuntime
from smtrain.backends.local.store.home import LocalHome
from tests.reliability.test_servers import server_pid, wait_in_service

SCRIPT = '''
import os

import joblib

LEAKED = []


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):
    first = data[0][0]
    if first == "leak":
        LEAKED.append(b"\\x01" * (32 * 1024 * 1024))  # written, so resident
        return b"%d" % os.getpid()
    if first == "size":
        return b"x" * int(data[0][1])
    return data.tolist()


def output_fn(prediction, accept):
    return prediction if isinstance(prediction, bytes) else (__import__("json").dumps(prediction), accept)
'''
GROWTH_MB, LEAK_MB = 96, 32
ENDPOINT = "limits"


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSageMaker]:
    import joblib
    from sklearn.tree import DecisionTreeClassifier

    root = tmp_path_factory.mktemp("limits")
    joblib.dump(DecisionTreeClassifier().fit(np.array([[0, 0], [1, 1]]), np.array(["a", "b"])), root / "model.joblib")
    (root / "serve.py").write_text(textwrap.dedent(SCRIPT))
    for archive, member in (("model.tar.gz", "model.joblib"), ("sourcedir.tar.gz", "serve.py")):
        with tarfile.open(root / archive, "w:gz") as tar:
            tar.add(root / member, arcname=member)
    service = LocalSageMaker(LocalHome(root / "home"))
    service.create_model(ModelName=ENDPOINT, ExecutionRoleArn="arn:aws:iam::000000000000:role/x", PrimaryContainer={
        "Image": "smtrain-local/sklearn", "ModelDataUrl": (root / "model.tar.gz").as_uri(),
        "Environment": {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": (root / "sourcedir.tar.gz")
                        .as_uri(), "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
                        "SMTRAIN_MODEL_SERVER_MAX_GROWTH_MB": str(GROWTH_MB)}})
    service.create_endpoint_config(EndpointConfigName=ENDPOINT, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": ENDPOINT, "InitialInstanceCount": 1, "InstanceType": "local"}])
    service.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
    groups: set[int] = set()
    try:
        wait_in_service(service, ENDPOINT)
        groups |= {server_pid(service, "gateway"), server_pid(service, ENDPOINT)}
        yield service
    finally:
        service.delete_endpoint(EndpointName=ENDPOINT)
        leftovers = [p for pgid in groups if pgid for p in group_members(pgid)]
        for pgid in groups:
            stop_group(pgid)
        assert not leftovers, f"processes left behind: {leftovers}"


def ports(sm: LocalSageMaker) -> dict[str, tuple[int, bytes]]:
    container = int(sm.db.get("endpoint", ENDPOINT)["_local"]["current"]["port"])
    gateway = int(sm.db.get("runtime", "gateway")["Port"])
    return {"gateway": (gateway, f"/endpoints/{ENDPOINT}/invocations".encode()), "container": (container,
                                                                                             b"/invocations")}


def invoke(sm: LocalSageMaker, body: bytes, content_type: str = "text/csv") -> dict[str, Any]:
    return LocalRuntime(sm.runtime_url(), timeout=30).invoke_endpoint(EndpointName=ENDPOINT, Body=body,
                                                                      ContentType=content_type)


def raw_request(port: int, head: bytes) -> bytes:
    """Send a request head (and a 3-byte body) at once; read the whole answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(head + b"Content-Type: text/csv\r\nContent-Length: 3\r\n\r\n1,1")
        answer = b""
        while chunk := client.recv(65536):  # a reset would raise here: ConnectionResetError
            answer += chunk
    return answer


def head(path: bytes, extra: bytes) -> bytes:
    return b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + extra


FLOODS = {
    "20000-headers": b"".join(b"X-Flood-%05d: v\r\n" % i for i in range(20_000)),  # ~360 KB
    "101-headers": b"".join(b"X-H%d: v\r\n" % i for i in range(101)),
    "one-9000-byte-header": b"X-Big: " + b"v" * 9000 + b"\r\n",
    "1-MB-of-headers": b"".join(b"X-Wide-%04d: %s\r\n" % (i, b"v" * 1000) for i in range(1000)),  # over the buffer
}
WHY = {"20000-headers": b"limit request headers fields", "101-headers": b"limit request headers fields",
       "one-9000-byte-header": b"limit request headers fields size", "1-MB-of-headers": b"max buffer headers"}


@pytest.mark.parametrize("target", ["gateway", "container"])
@pytest.mark.parametrize("flood", list(FLOODS))
def test_too_many_headers_get_431_not_a_reset(sm: LocalSageMaker, target: str, flood: str) -> None:
    port, path = ports(sm)[target]
    answer = raw_request(port, head(path, FLOODS[flood]))
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
    assert WHY[flood] in answer
    assert invoke(sm, b"echo,1")["Body"].read() == b'[["echo", 1.0]]'  # and the server serves on


@pytest.mark.parametrize("target", ["gateway", "container"])
def test_100_headers_and_an_8190_byte_one_are_still_served(sm: LocalSageMaker, target: str) -> None:
    port, path = ports(sm)[target]
    big = b"X-Big: " + b"v" * (8190 - len("X-Big: ")) + b"\r\n"  # the largest field gunicorn takes
    extra = big + b"".join(b"X-H%d: v\r\n" % i for i in range(100 - 5)) + b"Connection: close\r\n"
    answer = raw_request(port, head(path, extra))  # Host, Content-Type, Content-Length: 100 in all
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\n[[1.0, 1.0]]"), answer[-300:]


def boto3_runtime(sm: LocalSageMaker) -> Any:
    return boto3.client("sagemaker-runtime", endpoint_url=sm.runtime_url(), region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 1}))


@pytest.mark.parametrize("name", ["café-ünï", "名前", "a b", "x/../y", "-leading"])
def test_an_invalid_endpoint_name_is_named_as_sent(sm: LocalSageMaker, name: str) -> None:
    with pytest.raises(ClientError) as caught:
        boto3_runtime(sm).invoke_endpoint(EndpointName=name, Body=b"1,1", ContentType="text/csv")
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == "ValidationError"
    assert error["Message"] == (f"1 validation error detected: Value '{name}' at 'endpointName' failed to satisfy "
                                "constraint: Member must satisfy regular expression pattern: "
                                "^[a-zA-Z0-9](-*[a-zA-Z0-9])*")


def test_a_name_over_63_characters_and_an_unknown_one(sm: LocalSageMaker) -> None:
    runtime = LocalRuntime(sm.runtime_url(), timeout=10)
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName="a" * 64, Body=b"1,1", ContentType="text/csv")
    assert caught.value.response["Error"]["Message"].endswith("Member must have length less than or equal to 63")
    with pytest.raises(ClientError) as caught:
        boto3_runtime(sm).invoke_endpoint(EndpointName="nobody", Body=b"1,1", ContentType="text/csv")
    assert caught.value.response["Error"]["Message"] == "Endpoint nobody of account 000000000000 not found."


@pytest.mark.parametrize(("content_type", "body"), [
    ("text/csv; charset=latin-1", "café,1".encode("latin-1")),
    ("text/csv; charset=ISO-8859-1", "café,1".encode("latin-1")),
    ('text/csv; charset="utf-8"', "café,1".encode()),
    ("text/csv;charset=cp1252", "café,1".encode("cp1252")),
    ("text/csv", "café,1".encode()),
    ("application/json; charset=utf-16", json.dumps([["café", 1]]).encode("utf-16")),
])
def test_the_charset_is_honoured(sm: LocalSageMaker, content_type: str, body: bytes) -> None:
    answer = invoke(sm, body, content_type)
    assert json.loads(answer["Body"].read()) == [["café", 1.0]]


@pytest.mark.parametrize(("content_type", "body", "status", "message"), [
    ("text/csv", "café,1".encode("latin-1"), 400, "the body is not utf-8"),
    ("text/csv; charset=klingon", b"a,1", 415, "unknown charset 'klingon'"),
    ("text/csv; charset=ascii", "café,1".encode(), 400, "the body is not ascii"),
])
def test_a_body_its_charset_cannot_decode_is_refused(sm: LocalSageMaker, content_type: str, body: bytes,
                                                     status: int, message: str) -> None:
    with pytest.raises(ClientError) as caught:
        invoke(sm, body, content_type)
    response = caught.value.response
    assert response["Error"]["Code"] == "ModelError" and response["OriginalStatusCode"] == status
    assert message in response["OriginalMessage"]


def test_an_answer_at_the_limit_passes_and_one_over_is_refused(sm: LocalSageMaker) -> None:
    assert len(invoke(sm, b"size,%d" % MAX_RESPONSE)["Body"].read()) == MAX_RESPONSE == 6_291_456
    with pytest.raises(ClientError) as caught:
        boto3_runtime(sm).invoke_endpoint(EndpointName=ENDPOINT, Body=b"size,%d" % (MAX_RESPONSE + 1),
                                          ContentType="text/csv")
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424 and response["Error"]["Code"] == "ModelError"
    assert response["OriginalStatusCode"] == 200
    assert response["Error"]["Message"].startswith(
        "Received response (200) from primary and could not load the entire response body: it is over the "
        "6291456-byte limit of a real-time invocation response.")
    assert len(invoke(sm, b"echo,2")["Body"].read()) < 100  # the gateway dropped the rest and serves on


def worker_rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def leak_on(post: Any, count: int) -> tuple[dict[int, int], dict[int, int]]:
    """``count`` leaking requests; each worker's RSS after its first request, and how much it grew since."""
    first_rss: dict[int, int] = {}
    grown: dict[int, int] = {}
    for _ in range(count):
        pid = post()
        try:
            rss = worker_rss(pid)
        except psutil.NoSuchProcess:
            continue  # retired right after this request
        first_rss.setdefault(pid, rss)
        grown[pid] = rss - first_rss[pid]
    return first_rss, grown


def test_a_leaking_worker_is_replaced_before_it_grows_past_the_bound(sm: LocalSageMaker) -> None:
    """One client on one kept-alive connection to the container: a worker serves the request that takes it past
    the limit and at most one more (already on its connection, answered with Connection: close)."""
    import http.client

    port, _ = ports(sm)["container"]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post() -> int:
        connection.request("POST", "/invocations", body=b"leak,1", headers={"Content-Type": "text/csv"})
        response = connection.getresponse()
        assert response.status == 200
        return int(response.read())

    try:
        first_rss, grown = leak_on(post, 18)  # 18 x 32 MiB: six times what one worker may gain
    finally:
        connection.close()
    assert len(first_rss) >= 3, f"too few workers served: {first_rss}"
    bound = (GROWTH_MB + 2 * LEAK_MB + 16) * 1024 * 1024  # the limit, the crossing request, one more, slack
    assert max(grown.values()) <= bound, {pid: g // 1048576 for pid, g in grown.items()}
    print(f"\nworkers used: {len(first_rss)}; growth seen (MiB): {sorted(g // 1048576 for g in grown.values())}")
    log = Path(sm.db.get("endpoint", ENDPOINT)["_local"]["current"]["log"]).read_text()
    assert "since its first request: it finishes its requests and is replaced" in log


def test_leaking_workers_are_recycled_behind_the_gateway_with_no_error(sm: LocalSageMaker) -> None:
    first_rss, grown = leak_on(lambda: int(invoke(sm, b"leak,1")["Body"].read()), 18)  # every answer a 200
    assert len(first_rss) >= 2, f"one worker served every request: {first_rss}"
    print(f"\nbehind the gateway: workers used: {len(first_rss)}; "
          f"growth seen (MiB): {sorted(g // 1048576 for g in grown.values())}")

"""Local endpoints end to end: real gunicorn servers, invoked through boto3 and LocalRuntime."""

from __future__ import annotations

import io
import os
import signal
import tarfile
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import psutil
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from smtrain.backends.local.jobs.processes import is_alive
from smtrain.backends.local.service import LocalSageMaker
from smtrain.backends.local.serving.health import ping
from smtrain.backends.local.serving.inference import werkzeug_content_type
from smtrain.backends.local.serving.runtime_client import LocalRuntime
from smtrain.backends.local.store.home import LocalHome
from tests.helpers import remove_local_endpoints

SCRIPT = '''
import os
import time

import joblib


def model_fn(model_dir):
    if os.environ.get("BREAK_MODEL_FN"):
        raise RuntimeError("model_fn exploded on purpose")
    if os.environ.get("MODEL_FN_LOG"):
        with open(os.environ["MODEL_FN_LOG"], "a") as log:
            log.write(f"{os.getpid()}\\n")
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):
    first = float(data[0][0])
    if first == -999:
        os._exit(1)  # a worker dying mid-request
    if first == -500:
        raise ValueError("negative sentinel")
    if first == -777:
        time.sleep(30)  # longer than SAGEMAKER_MODEL_SERVER_TIMEOUT
    return model.predict(data)
'''


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """model.tar.gz (a tiny decision tree, joblib) and sourcedir.tar.gz (the script above)."""
    import joblib
    from sklearn.tree import DecisionTreeClassifier

    root = tmp_path_factory.mktemp("artifacts")
    features = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    model = DecisionTreeClassifier(random_state=0).fit(features, np.array(["a", "a", "b", "b"]))
    joblib.dump(model, root / "model.joblib")
    (root / "serving_script.py").write_text(textwrap.dedent(SCRIPT))
    for archive, member in (("model.tar.gz", "model.joblib"), ("sourcedir.tar.gz", "serving_script.py")):
        with tarfile.open(root / archive, "w:gz") as tar:
            tar.add(root / member, arcname=member)
    return {"model": (root / "model.tar.gz").as_uri(), "source": (root / "sourcedir.tar.gz").as_uri()}


def container(artifacts: dict[str, str], **environment: str) -> dict[str, Any]:
    return {
        "Image": "smtrain-local/sklearn",
        "ModelDataUrl": artifacts["model"],
        "Environment": {"SAGEMAKER_PROGRAM": "serving_script.py", "SAGEMAKER_SUBMIT_DIRECTORY": artifacts["source"],
                        "SAGEMAKER_MODEL_SERVER_WORKERS": "1", **environment},
    }


def deploy(sm: LocalSageMaker, name: str, primary: dict[str, Any], *, wait: bool = True) -> dict[str, Any]:
    sm.create_model(ModelName=name, PrimaryContainer=primary, ExecutionRoleArn="arn:aws:iam::000000000000:role/x")
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "local"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=[{"Key": "owner", "Value": "tests"}])
    return wait_settled(sm, name) if wait else sm.describe_endpoint(EndpointName=name)


def wait_settled(sm: LocalSageMaker, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        description = sm.describe_endpoint(EndpointName=name)
        if description["EndpointStatus"] in ("InService", "Failed") or time.monotonic() > deadline:
            return description
        time.sleep(0.05)


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSageMaker]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SMTRAIN_RUNTIME_PORT", raising=False)
        service = LocalSageMaker(LocalHome(tmp_path_factory.mktemp("serving") / "home"))
        try:
            yield service
        finally:
            remove_local_endpoints(service)


@pytest.fixture(scope="module")
def endpoint(sm: LocalSageMaker, artifacts: dict[str, str]) -> str:
    """One endpoint with two workers, shared by the tests that only invoke it."""
    description = deploy(sm, "shared", container(artifacts, SAGEMAKER_MODEL_SERVER_WORKERS="2"))
    assert description["EndpointStatus"] == "InService", description.get("FailureReason")
    return "shared"


def boto3_runtime(url: str, **config: Any) -> Any:
    return boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x", config=Config(**config))


@pytest.fixture(params=["boto3", "LocalRuntime"])
def runtime(request: pytest.FixtureRequest, sm: LocalSageMaker, endpoint: str) -> Any:
    url = sm.runtime_url()
    return boto3_runtime(url) if request.param == "boto3" else LocalRuntime(url)


def invoke_error(runtime: Any, **request: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(**request)
    return caught.value.response


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


# -- the endpoint's life ------------------------------------------------------


def test_describe_endpoint_has_the_real_shape(sm: LocalSageMaker, endpoint: str) -> None:
    description = sm.describe_endpoint(EndpointName=endpoint)
    assert description["EndpointArn"] == "arn:aws:sagemaker:us-east-1:000000000000:endpoint/shared"
    assert description["EndpointConfigName"] == "shared"
    assert description["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    assert isinstance(description["CreationTime"], datetime) and description["CreationTime"].tzinfo is not None
    assert not any(key.startswith("_") for key in description)
    assert sm.list_tags(ResourceArn=description["EndpointArn"])["Tags"] == [{"Key": "owner", "Value": "tests"}]
    listed = sm.list_endpoints(NameContains="shar")["Endpoints"]
    assert [e["EndpointName"] for e in listed] == ["shared"] and listed[0]["EndpointStatus"] == "InService"


def test_unknown_and_duplicate_names_fail_as_sagemaker_does(sm: LocalSageMaker, endpoint: str) -> None:
    arn = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/nope"
    with pytest.raises(ClientError, match=f'Could not find endpoint "{arn}"'):
        sm.describe_endpoint(EndpointName="nope")
    with pytest.raises(ClientError, match="Could not find model"):
        sm.describe_model(ModelName="nope")
    with pytest.raises(ClientError, match="Could not find model"):
        sm.create_endpoint_config(EndpointConfigName="orphan",
                                  ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "nope"}])
    with pytest.raises(ClientError, match="Cannot create already existing endpoint") as duplicate:
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    assert duplicate.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError, match="regular expression"):
        sm.create_model(ModelName="../escape", PrimaryContainer={})


# -- invoking through the gateway ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "expected"),
    [
        (b"[[0, 0], [1, 1]]", "application/json", "application/json", b'["a", "b"]'),
        (b"1,1\n", "text/csv", "text/csv", b"b\n"),  # one CSV row is one sample
        (npy(np.array([[1.0, 0.0]])), "application/x-npy", "application/json", b'["b"]'),
    ],
)
def test_round_trips(runtime: Any, endpoint: str, body: bytes, content_type: str, accept: str, expected: bytes) -> None:
    response = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType=content_type, Accept=accept)
    assert response["Body"].read() == expected
    assert response["ContentType"] == werkzeug_content_type(accept)  # text/csv; charset=utf-8, as the image
    assert response["InvokedProductionVariant"] == "AllTraffic"


def test_npy_answers_load_without_pickle(runtime: Any, endpoint: str) -> None:
    response = runtime.invoke_endpoint(EndpointName=endpoint, Body=b"0,1\n1,0", ContentType="text/csv",
                                       Accept="application/x-npy")
    assert np.load(io.BytesIO(response["Body"].read()), allow_pickle=False).tolist() == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status"),
    [
        (b"hello", "text/plain", "application/json", 415),
        (b"0,1", "text/csv", "text/html", 406),
        (b"[[0, 1]", "application/json", "application/json", 400),
        (b"-500,0", "text/csv", "application/json", 500),
    ],
)
def test_model_errors_carry_the_original_status(
    runtime: Any, endpoint: str, body: bytes, content_type: str, accept: str, status: int,
) -> None:
    error = invoke_error(runtime, EndpointName=endpoint, Body=body, ContentType=content_type, Accept=accept)
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == status
    assert error["OriginalMessage"] and error["OriginalMessage"] in error["Error"]["Message"]
    assert error["LogStreamArn"].startswith("arn:aws:logs:us-east-1:000000000000:log-group:/aws/sagemaker/Endpoints/")


@pytest.mark.parametrize(
    "request_",
    [
        {"EndpointName": "shared", "Body": b"x", "ContentType": "text/plain"},
        {"EndpointName": "missing", "Body": b"x"},
        {"EndpointName": "shared", "Body": b"0" * (6 * 1024 * 1024 + 1)},
    ],
    ids=["ModelError", "ValidationError", "413"],
)
def test_both_clients_raise_the_same_error(sm: LocalSageMaker, endpoint: str, request_: dict[str, Any]) -> None:
    url = sm.runtime_url()
    errors = [invoke_error(client, **request_) for client in (boto3_runtime(url), LocalRuntime(url))]
    for error in errors:
        metadata = error.pop("ResponseMetadata")
        assert metadata["RequestId"] == metadata["HTTPHeaders"]["x-amzn-requestid"]
    assert errors[0] == errors[1]


def test_unknown_endpoint_is_a_validation_error(runtime: Any) -> None:
    error = invoke_error(runtime, EndpointName="missing", Body=b"1")
    assert error["Error"] == {"Code": "ValidationError",
                              "Message": "Endpoint missing of account 000000000000 not found."}
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_bodies_over_6_mb_are_refused_with_413(runtime: Any, endpoint: str) -> None:
    error = invoke_error(runtime, EndpointName=endpoint, Body=b"0" * (6 * 1024 * 1024 + 1), ContentType="text/csv")
    assert error["Error"]["Code"] == "413"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_a_6_mb_body_reaches_the_model(runtime: Any, endpoint: str) -> None:
    error = invoke_error(runtime, EndpointName=endpoint, Body=b"\x00" * (6 * 1024 * 1024),
                         ContentType="application/x-npy")
    assert error["OriginalStatusCode"] == 400  # the model refused it, not the gateway


def test_custom_attributes_are_not_echoed(runtime: Any, endpoint: str) -> None:
    """SageMaker returns CustomAttributes only when the model sets them; the scikit-learn handlers cannot."""
    response = runtime.invoke_endpoint(EndpointName=endpoint, Body=b"0,0", ContentType="text/csv",
                                       CustomAttributes="trace-id=42")
    assert response["Body"].read() == b'["a"]'
    assert "CustomAttributes" not in response


def test_a_crashed_worker_is_replaced(sm: LocalSageMaker, endpoint: str) -> None:
    client = LocalRuntime(sm.runtime_url())
    master = sm.db.get("endpoint", endpoint)["_local"]["current"]["pid"]
    error = invoke_error(client, EndpointName=endpoint, Body=b"-999,0", ContentType="text/csv")
    assert error["Error"]["Code"] == "ModelError" and error["OriginalStatusCode"] == 0
    for _ in range(3):  # whichever worker answers, it serves
        answer = client.invoke_endpoint(EndpointName=endpoint, Body=b"1,1", ContentType="text/csv")
        assert answer["Body"].read() == b'["b"]'
    assert is_alive(master)
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"


def test_an_endpoint_whose_container_does_not_listen_is_not_ready(sm: LocalSageMaker, endpoint: str) -> None:
    from smtrain.backends.local.serving.container import listening_socket

    url = sm.runtime_url()
    with listening_socket() as probe:
        closed_port = probe.getsockname()[1]
    ghost = dict(sm.db.get("endpoint", endpoint), EndpointName="ghost")
    ghost["_local"] = {"current": dict(ghost["_local"]["current"], port=closed_port)}
    sm.db.put("endpoint", "ghost", ghost)
    try:
        for client in (LocalRuntime(url), boto3_runtime(url, retries={"total_max_attempts": 1, "mode": "standard"})):
            error = invoke_error(client, EndpointName="ghost", Body=b"0,0", ContentType="text/csv")
            assert error["Error"]["Code"] == "ModelNotReadyException"
            assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    finally:
        sm.db.delete("endpoint", "ghost")


# -- the servers themselves ---------------------------------------------------


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_the_container_speaks_the_inference_contract(sm: LocalSageMaker, endpoint: str) -> None:
    import http.client

    port = sm.db.get("endpoint", endpoint)["_local"]["current"]["port"]
    assert ping(port) == (200, "")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/invocations", body=b"[[0, 1]]",
                       headers={"Content-Type": "application/json", "X-Amzn-SageMaker-Custom-Attributes": "k=v"})
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b'["a"]')
    assert response.getheader("X-Amzn-SageMaker-Custom-Attributes") is None
    connection.close()


def test_servers_listen_on_loopback_only(sm: LocalSageMaker, endpoint: str) -> None:
    container_port = sm.db.get("endpoint", endpoint)["_local"]["current"]["port"]
    gateway_port = int(sm.runtime_url().rsplit(":", 1)[1])
    assert listening_addresses(container_port) == {"0100007F"}
    assert listening_addresses(gateway_port) == {"0100007F"}


def test_two_endpoints_share_one_gateway(sm: LocalSageMaker, artifacts: dict[str, str], endpoint: str) -> None:
    url = sm.runtime_url()
    second_container = container(artifacts, SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="text/csv",
                                 SAGEMAKER_MODEL_SERVER_TIMEOUT="1")
    assert deploy(sm, "second", second_container)["EndpointStatus"] == "InService"
    assert sm.runtime_url() == url
    client = boto3_runtime(url)
    first = client.invoke_endpoint(EndpointName=endpoint, Body=b"1,0", ContentType="text/csv")
    second = client.invoke_endpoint(EndpointName="second", Body=b"1,0", ContentType="text/csv")
    assert (first["ContentType"], first["Body"].read()) == ("application/json", b'["b"]')
    assert (second["ContentType"], second["Body"].read()) == ("text/csv; charset=utf-8", b"b\n")
    slow = invoke_error(client, EndpointName="second", Body=b"-777,0", ContentType="text/csv")
    assert slow["OriginalStatusCode"] == 0 and "timed out" in slow["OriginalMessage"]
    sm.delete_endpoint(EndpointName="second")
    assert client.invoke_endpoint(EndpointName=endpoint, Body=b"1,0", ContentType="text/csv")["Body"].read()
    # the gateway's cached lookups see the delete at once
    for _ in range(4):  # every worker thread's cache, most likely
        deleted = invoke_error(client, EndpointName="second", Body=b"1,0", ContentType="text/csv")
        assert deleted["Error"]["Message"] == "Endpoint second of account 000000000000 not found."


def test_the_master_loads_the_model_once_and_the_workers_fork_with_it(
        sm: LocalSageMaker, artifacts: dict[str, str], tmp_path: Path) -> None:
    calls = tmp_path / "model_fn.log"
    description = deploy(sm, "preloaded", container(artifacts, SAGEMAKER_MODEL_SERVER_WORKERS="2",
                                                    MODEL_FN_LOG=str(calls)))
    assert description["EndpointStatus"] == "InService", description.get("FailureReason")
    keeper = psutil.Process(sm.db.get("endpoint", "preloaded")["_local"]["current"]["pid"])
    try:
        (master,) = keeper.children()
        assert eventually(lambda: len(master.children()) == 2)
        runtime = LocalRuntime(sm.runtime_url())
        for _ in range(4):  # either worker answers with the model it forked with
            answer = runtime.invoke_endpoint(EndpointName="preloaded", Body=b"0,1\n", ContentType="text/csv",
                                             Accept="text/csv")
            assert answer["Body"].read() == b"a\n"
        assert calls.read_text().split() == [str(master.pid)]
    finally:
        sm.delete_endpoint(EndpointName="preloaded")


def test_a_model_that_fails_to_load_fails_the_endpoint(sm: LocalSageMaker, artifacts: dict[str, str]) -> None:
    description = deploy(sm, "broken", container(artifacts, BREAK_MODEL_FN="1"))
    assert description["EndpointStatus"] == "Failed"
    assert "model_fn exploded on purpose" in description["FailureReason"]
    assert len(description["FailureReason"]) <= 1024
    sm.delete_endpoint(EndpointName="broken")


def test_model_data_in_s3_without_credentials_fails_the_endpoint_naming_the_uri(
    sm: LocalSageMaker, artifacts: dict[str, str],
) -> None:
    primary = dict(container(artifacts), ModelDataUrl="s3://bucket/model.tar.gz")
    description = deploy(sm, "unreadable", primary, wait=False)
    assert description["EndpointStatus"] == "Failed"
    assert "no AWS credentials to download s3://bucket/model.tar.gz" in description["FailureReason"]
    sm.delete_endpoint(EndpointName="unreadable")


def test_requirements_txt_is_installed_before_serving(
    sm: LocalSageMaker, artifacts: dict[str, str], tmp_path: Path,
) -> None:
    source = Path(artifacts["source"].removeprefix("file://"))
    (tmp_path / "requirements.txt").write_text("# nothing beyond what smtrain has\n")
    with tarfile.open(tmp_path / "sourcedir.tar.gz", "w:gz") as tar, tarfile.open(source) as original:
        tar.addfile(original.getmember("serving_script.py"), original.extractfile("serving_script.py"))
        tar.add(tmp_path / "requirements.txt", arcname="requirements.txt")
    primary = container(artifacts, SAGEMAKER_SUBMIT_DIRECTORY=(tmp_path / "sourcedir.tar.gz").as_uri())
    assert deploy(sm, "with-requirements", primary)["EndpointStatus"] == "InService"
    keeper = psutil.Process(sm.db.get("endpoint", "with-requirements")["_local"]["current"]["pid"])
    master = keeper.children()[0]
    assert master.cmdline()[0].startswith(str(sm.home.venvs))
    sm.delete_endpoint(EndpointName="with-requirements")


# -- update, delete, and nothing left behind ----------------------------------


def group_members(pgid: int) -> set[int]:
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    members.add(int(entry.name))
            except OSError:
                pass
    return members


def eventually(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_update_swaps_containers_and_delete_leaves_no_process(tmp_path: Path, artifacts: dict[str, str]) -> None:
    sm = LocalSageMaker(LocalHome(tmp_path / "home"))
    try:
        assert deploy(sm, "life", container(artifacts))["EndpointStatus"] == "InService"
        old = sm.db.get("endpoint", "life")["_local"]["current"]
        sm.create_model(ModelName="life-v2", PrimaryContainer=container(
            artifacts, SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="text/csv"))
        sm.create_endpoint_config(EndpointConfigName="life-v2", ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "life-v2", "InitialInstanceCount": 1, "InstanceType": "local"}])
        sm.update_endpoint(EndpointName="life", EndpointConfigName="life-v2")
        assert sm.describe_endpoint(EndpointName="life")["EndpointStatus"] in ("Updating", "InService")
        assert wait_settled(sm, "life")["EndpointConfigName"] == "life-v2"
        assert eventually(lambda: not is_alive(old["pid"]))
        request = {"EndpointName": "life", "Body": b"0,0", "ContentType": "text/csv"}
        assert LocalRuntime(sm.runtime_url()).invoke_endpoint(**request)["ContentType"] == "text/csv; charset=utf-8"

        killed = sm.db.get("endpoint", "life")["_local"]["current"]["pid"]
        os.killpg(killed, signal.SIGKILL)  # as a reboot would
        assert eventually(lambda: not is_alive(killed))
        client = LocalRuntime(sm.runtime_url())  # finds the dead server and starts a new one
        assert client.invoke_endpoint(**request)["Body"].read() == b"a\n"
        assert sm.describe_endpoint(EndpointName="life")["EndpointStatus"] == "InService"

        current = sm.db.get("endpoint", "life")["_local"]["current"]
        gateway = sm.db.get("runtime", "gateway")["_local"]["pid"]
        pids = group_members(current["pid"]) | group_members(gateway)
        assert len(pids) >= 4  # two masters, at least one worker each
        sm.delete_endpoint(EndpointName="life")
        assert not any(is_alive(pid) for pid in pids)
        assert not (tmp_path / "home" / "endpoints" / "life").exists()
        assert sm.db.get("runtime", "gateway")["_local"]["pid"] == 0
    finally:
        remove_local_endpoints(sm)


def test_the_runtime_url_needs_no_server_until_an_endpoint_exists(tmp_path: Path) -> None:
    from smtrain.backends.local.serving.container import listening_socket

    with listening_socket() as probe:
        port = probe.getsockname()[1]
    sm = LocalSageMaker(LocalHome(tmp_path / "home"), runtime_port=port)
    assert sm.runtime_url() == f"http://127.0.0.1:{port}"
    assert sm.db.get("runtime", "gateway")["_local"]["pid"] == 0
    assert LocalSageMaker(LocalHome(tmp_path / "home")).runtime_url() == f"http://127.0.0.1:{port}"  # kept

"""The servers under hostile clients and faults: slow clients, huge bodies, killed processes, updates under load.

Every test is bounded: clients use short timeouts, loads stop after a count or
a deadline, waits poll a condition with a deadline. Latencies are printed
(``-s`` shows them), never asserted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import tarfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import psutil
import pytest

from smtrain.backends.local.jobs.processes import group_members, stop_group
from smtrain.backends.local.service import LocalSageMaker
from smtrain.backends.local.serving.runtime_client import LocalRuntime
from smtrain.backends.local.store.home import LocalHome

SCRIPT = '''
import os

import joblib


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
'''
REQUEST = {"EndpointName": "ep", "Body": b"1,1", "ContentType": "text/csv"}
RECOVERY_DEADLINE = 40.0  # seconds: a bound on the handover: a new master is up at once, its workers load the
# model in 1-20 s under load (the old workers serve meanwhile; LONGEST_WAIT bounds what a client sees)
LONGEST_WAIT = 5.0  # seconds: the issue asks ~2 s for a killed master; generous for a loaded CI machine
SLOW_CLIENTS = 64


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import joblib
    from sklearn.tree import DecisionTreeClassifier

    root = tmp_path_factory.mktemp("artifacts")
    model = DecisionTreeClassifier(random_state=0).fit(np.array([[0, 0], [1, 1]]), np.array(["a", "b"]))
    joblib.dump(model, root / "model.joblib")
    (root / "serve.py").write_text(textwrap.dedent(SCRIPT))
    for archive, member in (("model.tar.gz", "model.joblib"), ("sourcedir.tar.gz", "serve.py")):
        with tarfile.open(root / archive, "w:gz") as tar:
            tar.add(root / member, arcname=member)
    return {"model": (root / "model.tar.gz").as_uri(), "source": (root / "sourcedir.tar.gz").as_uri()}


def create_version(sm: LocalSageMaker, name: str, artifacts: dict[str, str], workers: int = 2) -> None:
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::000000000000:role/x", PrimaryContainer={
        "Image": "smtrain-local/sklearn", "ModelDataUrl": artifacts["model"],
        "Environment": {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": artifacts["source"],
                        "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers)}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "local"}])


def wait_in_service(sm: LocalSageMaker, name: str = "ep", config: str = "") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        description = sm.describe_endpoint(EndpointName=name)
        if description["EndpointStatus"] == "InService" and config in ("", description["EndpointConfigName"]):
            return
        assert description["EndpointStatus"] != "Failed", description.get("FailureReason")
        time.sleep(0.05)
    raise AssertionError(f"endpoint {name} not InService on {config or 'its config'} within 60 s")


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory, artifacts: dict[str, str]) -> Iterator[LocalSageMaker]:
    """A home with endpoint "ep" (two workers) InService, shared by the tests in file order (each leaves
    it serving, the last deletes it); every server process is gone afterwards."""
    service = LocalSageMaker(LocalHome(tmp_path_factory.mktemp("servers") / "home"))
    create_version(service, "ep", artifacts)
    service.create_endpoint(EndpointName="ep", EndpointConfigName="ep")
    groups: set[int] = set()
    try:
        wait_in_service(service)
        groups |= {server_pid(service, "gateway"), server_pid(service, "ep")}
        yield service
    finally:
        for endpoint in service.db.list("endpoint"):
            groups |= {d["pid"] for d in (endpoint["_local"].get("current"), endpoint["_local"].get("pending")) if d}
            service.delete_endpoint(EndpointName=endpoint["EndpointName"])
        gateway = service.db.get("runtime", "gateway")
        groups.add(gateway["_local"].get("pid", 0) if gateway else 0)
        leftovers = [p for pgid in groups if pgid for p in group_members(pgid)]
        for pgid in groups:
            stop_group(pgid)
        assert not leftovers, f"processes left behind: {leftovers}"


def server_pid(sm: LocalSageMaker, which: str) -> int:
    """The keeper's pid (also the process group) of the gateway or of an endpoint's container."""
    if which == "gateway":
        return int(sm.db.get("runtime", "gateway")["_local"]["pid"])
    return int(sm.db.get("endpoint", which)["_local"]["current"]["pid"])


def master_of(keeper_pid: int) -> psutil.Process:
    children = psutil.Process(keeper_pid).children()
    assert len(children) == 1, children
    return children[0]


def container_port(sm: LocalSageMaker) -> int:
    return int(sm.db.get("endpoint", "ep")["_local"]["current"]["port"])


def gateway_port(sm: LocalSageMaker) -> int:
    return int(sm.db.get("runtime", "gateway")["Port"])


def answers(url: str, timeout: float = 3.0) -> bytes:
    return bytes(LocalRuntime(url, timeout=timeout).invoke_endpoint(**REQUEST)["Body"].read())


def post_container(port: int, timeout: float = 3.0) -> int:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/invocations", body=b"1,1", headers={"Content-Type": "text/csv"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


# -- slow clients ---------------------------------------------------------------


@contextlib.contextmanager
def slow_clients(port: int, count: int = SLOW_CLIENTS) -> Iterator[list[socket.socket]]:
    """``count`` connections that hold the server the ways a slow client does: a third send nothing,
    a third send half a header, a third send headers and a few bytes of a declared 1000-byte body."""
    sockets = []
    try:
        for index in range(count):
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            sockets.append(client)
            if index % 3 == 1:
                client.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Ty")
            elif index % 3 == 2:
                client.sendall(b"POST /endpoints/ep/invocations HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Type: text/csv\r\nContent-Length: 1000\r\n\r\n1,")
        yield sockets
    finally:
        for client in sockets:
            client.close()


def trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    while not stop.wait(0.2):
        for client in sockets[2::3]:
            with contextlib.suppress(OSError):
                client.sendall(b"1")


@pytest.mark.parametrize("target", ["gateway", "container"])
def test_64_slow_clients_do_not_hold_the_server(sm: LocalSageMaker, target: str) -> None:
    url = sm.runtime_url()
    port = gateway_port(sm) if target == "gateway" else container_port(sm)
    normal: Callable[[], Any] = (lambda: answers(url)) if target == "gateway" else (lambda: post_container(port))
    stop = threading.Event()
    with slow_clients(port) as sockets:
        trickler = threading.Thread(target=trickle, args=(sockets, stop))
        trickler.start()
        try:
            time.sleep(0.3)  # let the slow clients settle in (the assertion below needs no timing)
            started = time.perf_counter()
            results = [normal() for _ in range(5)]  # each must finish within the client's 3 s timeout
            elapsed = (time.perf_counter() - started) / 5
        finally:
            stop.set()
            trickler.join()
    assert results == ([b'["b"]'] * 5 if target == "gateway" else [200] * 5)
    print(f"\n{target}: a normal request took {elapsed * 1000:.1f} ms beside {SLOW_CLIENTS} slow clients")


@pytest.mark.parametrize("target", ["gateway", "container"])
def test_a_huge_declared_body_is_refused_at_once(sm: LocalSageMaker, target: str) -> None:
    port = gateway_port(sm) if target == "gateway" else container_port(sm)
    path = b"/endpoints/ep/invocations" if target == "gateway" else b"/invocations"
    with socket.create_connection(("127.0.0.1", port), timeout=3) as client:
        client.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                       b"Content-Length: 99999999999\r\n\r\n1,1")
        answer = b""
        while chunk := client.recv(4096):  # the 3 s timeout bounds this: the answer and EOF come at once
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    if target == "gateway":
        assert answer.endswith(b'{"message": "HTTP content length exceeded 6291456 bytes."}')
    assert answers(sm.runtime_url()) == b'["b"]'


# -- killed processes -------------------------------------------------------------


class Load:
    """Two threads sending requests to ``url`` until stopped (at most ``limit`` each); outcomes recorded."""

    def __init__(self, url: str, limit: int = 400) -> None:
        self.url, self.limit = url, limit
        self.ok = 0
        self.errors: list[str] = []
        self.longest = 0.0  # the longest any request waited for its answer
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(2)]

    def run(self) -> None:
        client = LocalRuntime(self.url, timeout=15)
        for _ in range(self.limit):
            if self.stopped.is_set():
                return
            started = time.monotonic()
            try:
                assert client.invoke_endpoint(**REQUEST)["Body"].read() == b'["b"]'
                self.ok += 1
                self.longest = max(self.longest, time.monotonic() - started)
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=60)


def recovers(url: str, replaced: Callable[[], bool]) -> float:
    """Seconds until ``replaced()`` and the same URL answers; fails after the deadline."""
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_DEADLINE:
        with contextlib.suppress(Exception):
            if replaced() and answers(url, timeout=1.0) == b'["b"]':
                return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{url} did not answer again within {RECOVERY_DEADLINE} s")


def gone(processes: list[psutil.Process]) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=0)
    return not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("server", ["gateway", "ep"])
def test_a_killed_master_is_restarted_on_the_same_port(sm: LocalSageMaker, server: str) -> None:
    url = sm.runtime_url()
    keeper = server_pid(sm, server)
    master = master_of(keeper)
    workers = master.children()
    with Load(url) as load:
        time.sleep(0.2)
        master.send_signal(signal.SIGKILL)
        # the old workers serve on until the new master's are ready, then finish what they hold and exit
        took = recovers(url, lambda: master_of(keeper).pid != master.pid and gone(workers))
    assert sm.runtime_url() == url and server_pid(sm, server) == keeper
    assert load.ok > 0 and load.errors == []
    print(f"\n{server} master killed: the longest request waited {load.longest:.2f} s; old workers gone and the URL "
          f"answered by the new master's after {took:.2f} s; {load.ok} requests served")
    assert load.longest < LONGEST_WAIT, f"a request waited {load.longest:.2f} s for the URL to answer again"


@pytest.mark.parametrize("server", ["gateway", "ep"])
def test_a_killed_worker_is_replaced(sm: LocalSageMaker, server: str) -> None:
    url = sm.runtime_url()
    master = master_of(server_pid(sm, server))
    worker = master.children()[0]
    with Load(url) as load:
        time.sleep(0.2)
        worker.send_signal(signal.SIGKILL)
        took = recovers(url, lambda: worker.pid not in {w.pid for w in master.children()}
                        and len(master.children()) == 2)
    assert master.is_running()
    print(f"\n{server} worker killed: replaced and answering after {took:.2f} s; "
          f"{load.ok} requests served, {len(load.errors)} failed: {load.errors[:3]}")


def test_a_redeploy_under_load_drops_nothing(sm: LocalSageMaker, artifacts: dict[str, str]) -> None:
    url = sm.runtime_url()
    old = group_members(server_pid(sm, "ep"))
    create_version(sm, "ep-v2", artifacts)
    with Load(url, limit=300) as load:
        time.sleep(0.3)
        sm.update_endpoint(EndpointName="ep", EndpointConfigName="ep-v2")
        wait_in_service(sm, config="ep-v2")
        time.sleep(0.3)
    assert gone(old)
    assert load.errors == [] and load.ok > 0
    print(f"\nredeploy under load: {load.ok} requests, no errors")


def test_a_killed_keeper_is_healed_and_teardown_leaves_nothing(sm: LocalSageMaker) -> None:
    url = sm.runtime_url()
    old = server_pid(sm, "ep")
    members = group_members(old)
    os.kill(old, signal.SIGKILL)  # a crash of the supervisor itself: its master and workers exit after it
    deadline = time.monotonic() + RECOVERY_DEADLINE
    while not gone(members) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(members), "the server outlived its keeper"
    assert LocalRuntime(sm.runtime_url()).invoke_endpoint(**REQUEST)["Body"].read() == b'["b"]'  # healed
    assert sm.runtime_url() == url
    groups = [server_pid(sm, "ep"), server_pid(sm, "gateway")]
    master_of(server_pid(sm, "gateway")).send_signal(signal.SIGKILL)  # a crash in flight during teardown
    sm.delete_endpoint(EndpointName="ep")
    assert not [p for pgid in groups for p in group_members(pgid)]

"""Stopping servers: what teardown waits for (the requests being answered), and that the fast exits
still go through gunicorn's own shutdown, logs flushed."""

from __future__ import annotations

import tarfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smtrain.backends.local.jobs.processes import group_members
from smtrain.backends.local.service import LocalSageMaker
from smtrain.backends.local.serving.runtime_client import LocalRuntime
from smtrain.backends.local.store.home import LocalHome
from tests.helpers import remove_local_endpoints

SCRIPT = '''
import os
import time

import joblib


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):
    if float(data[0][0]) == -5:
        open(os.environ["HELD_MARKER"], "w").close()  # the request is being answered
        time.sleep(1.5)
    return model.predict(data)
'''
DEADLINE = 60.0


@pytest.fixture()
def served(tmp_path: Path) -> Any:
    import joblib
    from sklearn.tree import DecisionTreeClassifier

    model = DecisionTreeClassifier(random_state=0).fit(np.array([[0, 0], [1, 1]]), np.array(["a", "b"]))
    joblib.dump(model, tmp_path / "model.joblib")
    (tmp_path / "serve.py").write_text(textwrap.dedent(SCRIPT))
    for archive, member in (("model.tar.gz", "model.joblib"), ("sourcedir.tar.gz", "serve.py")):
        with tarfile.open(tmp_path / archive, "w:gz") as tar:
            tar.add(tmp_path / member, arcname=member)
    sm = LocalSageMaker(LocalHome(tmp_path / "home"))
    marker = tmp_path / "held"
    sm.create_model(ModelName="ep", ExecutionRoleArn="arn:aws:iam::000000000000:role/x", PrimaryContainer={
        "Image": "smtrain-local/sklearn", "ModelDataUrl": (tmp_path / "model.tar.gz").as_uri(),
        "Environment": {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
                        "SAGEMAKER_SUBMIT_DIRECTORY": (tmp_path / "sourcedir.tar.gz").as_uri(),
                        "HELD_MARKER": str(marker)}})
    sm.create_endpoint_config(EndpointConfigName="ep", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "ep", "InitialInstanceCount": 1, "InstanceType": "local"}])
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="ep")
    deadline = time.monotonic() + DEADLINE
    while sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"
    try:
        yield sm, marker
    finally:
        remove_local_endpoints(sm)


def server_groups(sm: LocalSageMaker) -> list[int]:
    return [sm.db.get("endpoint", "ep")["_local"]["current"]["pid"], sm.db.get("runtime", "gateway")["_local"]["pid"]]


def test_a_request_held_when_the_endpoint_is_deleted_is_answered_then_nothing_is_left(served: Any) -> None:
    sm, marker = served
    groups = server_groups(sm)
    answers: list[Any] = []
    client = threading.Thread(target=lambda: answers.append(LocalRuntime(sm.runtime_url()).invoke_endpoint(
        EndpointName="ep", Body=b"-5,0", ContentType="text/csv")["Body"].read()))
    client.start()
    deadline = time.monotonic() + DEADLINE
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), "the request never reached predict_fn"
    sm.delete_endpoint(EndpointName="ep")
    client.join(DEADLINE)
    assert answers == [b'["a"]']
    assert not [p for pgid in groups for p in group_members(pgid)]


def test_stopped_servers_still_shut_down_through_gunicorn_with_their_logs_flushed(served: Any) -> None:
    sm, _ = served
    assert LocalRuntime(sm.runtime_url()).invoke_endpoint(
        EndpointName="ep", Body=b"1,1", ContentType="text/csv")["Body"].read() == b'["b"]'
    groups = server_groups(sm)
    sm.delete_endpoint(EndpointName="ep")
    assert not [p for pgid in groups for p in group_members(pgid)]
    log = (sm.home.runtime_dir / "gateway.log").read_text()  # the endpoint's own log goes with its folder
    assert "Worker exiting" in log and "Shutting down: Master" in log
    assert "Traceback" not in log

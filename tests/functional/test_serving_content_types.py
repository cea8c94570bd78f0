"""Local endpoints answer the image's ContentType for every output_fn return type.

The reference is what the image's own handler stack (sagemaker-containers, Flask, Werkzeug at the
image's pins) answered, captured in tests/fixtures/serving_content_types (its README says how). Two real
local endpoints serve the same cases: one with the image's default handlers, one whose output_fn returns
each type (chosen by the request body), with the real ``worker.Response`` from the image's toolkit.
"""

from __future__ import annotations

import json
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from smtrain.backends.local.environments import frameworks
from smtrain.backends.local.service import LocalSageMaker
from smtrain.backends.local.store.home import LocalHome
from tests.functional.test_local_serving import deploy
from tests.helpers import remove_local_endpoints

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "serving_content_types"
DEFAULTS_SCRIPT = '''
import numpy as np


class Model:
    def predict(self, data):
        return np.asarray(data).sum(axis=1)


def model_fn(model_dir):
    return Model()
'''
RETURNS_SCRIPT = '''
import json

import flask
from sagemaker_containers.beta.framework import worker

RETURNS = {  # the cases of tests/fixtures/serving_content_types/capture.py
    "str": lambda accept: "1.0,2.0",
    "bytes": lambda accept: b"1.0,2.0",
    "tuple text/csv": lambda accept: ("1.0,2.0", "text/csv"),
    "tuple application/json": lambda accept: (b"[1.0]", "application/json"),
    "tuple accept": lambda accept: (b"1.0", accept),
    "tuple application/x-npy": lambda accept: (b"\\x93NUMPY", "application/x-npy"),
    "tuple text/plain; charset=latin-1": lambda accept: (b"1", "text/plain; charset=latin-1"),
    "worker.Response no mimetype": lambda accept: worker.Response(b"1.0"),
    "worker.Response mimetype text/csv": lambda accept: worker.Response(b"1.0", mimetype="text/csv"),
    "worker.Response mimetype accept": lambda accept: worker.Response(b"1.0", mimetype=accept),
    "worker.Response content_type header": lambda accept: worker.Response(b"1.0", headers={"Content-Type": "text/csv"}),
    "worker.Response status 201": lambda accept: worker.Response(b"{}", status=201, mimetype="application/json"),
    "flask.Response no mimetype": lambda accept: flask.Response(b"1.0"),
    "dict": lambda accept: {"predictions": [1.0]},
    "list": lambda accept: [1.0, 2.0],
}


def model_fn(model_dir):
    return object()


def input_fn(body, content_type):
    return json.loads(body)["case"]


def predict_fn(case, model):
    return case


def output_fn(case, accept):
    return RETURNS[case](accept)
'''


def image_answers(version: str) -> list[dict[str, Any]]:
    return list(json.loads((FIXTURES / f"image-{version}.json").read_text())["answers"])


def archive(root: Path, name: str, members: dict[str, str]) -> str:
    for member, text in members.items():
        (root / member).write_text(textwrap.dedent(text))
    with tarfile.open(root / name, "w:gz") as tar:
        for member in members:
            tar.add(root / member, arcname=member)
    return (root / name).as_uri()


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("content-types")
    model = archive(root, "model.tar.gz", {"empty.txt": ""})
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SMTRAIN_RUNTIME_PORT", raising=False)
        # the toolkits' overlay (worker.Response) is built once, across runs
        patch.setenv(frameworks.CACHE_VARIABLE, str(request.config.cache.mkdir("smtrain-frameworks")))
        service = LocalSageMaker(LocalHome(root / "home"))
        try:
            for name, script in (("defaults", DEFAULTS_SCRIPT), ("returns", RETURNS_SCRIPT)):
                source = archive(root, f"{name}.tar.gz", {f"{name}.py": script})
                description = deploy(service, name, {
                    "Image": "smtrain-local/sklearn", "ModelDataUrl": model,
                    "Environment": {"SAGEMAKER_PROGRAM": f"{name}.py", "SAGEMAKER_SUBMIT_DIRECTORY": source,
                                    "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}})
                assert description["EndpointStatus"] == "InService", description.get("FailureReason")
            yield boto3.client("sagemaker-runtime", endpoint_url=service.runtime_url(), region_name="us-east-1",
                               aws_access_key_id="x", aws_secret_access_key="x",
                               config=Config(retries={"max_attempts": 1}))
        finally:
            remove_local_endpoints(service)


def answer(runtime: Any, case: str, accept: str | None) -> tuple[int, str]:
    endpoint, body = ("defaults", b"[[1, 2], [3, 4]]") if case == "default" else ("returns", json.dumps(
        {"case": case}).encode())
    request: dict[str, Any] = {"EndpointName": endpoint, "Body": body, "ContentType": "application/json"}
    if accept is not None:
        request["Accept"] = accept
    response = runtime.invoke_endpoint(**request)
    response["Body"].read()
    return response["ResponseMetadata"]["HTTPStatusCode"], response["ContentType"]


def test_the_cases_are_the_captured_ones() -> None:
    cases = {a["output_fn"] for a in image_answers("1.9-0")}
    assert cases == {a["output_fn"] for a in image_answers("1.4-2")}
    assert cases - {"default"} == set(returns_cases())


def returns_cases() -> list[str]:
    start = RETURNS_SCRIPT.index("RETURNS = {")
    return [line.split('"')[1] for line in RETURNS_SCRIPT[start:].splitlines()[1:] if line.startswith('    "')]


@pytest.mark.parametrize("expected", image_answers("1.9-0"), ids=lambda a: f"{a['output_fn']}|{a['accept']}")
def test_the_content_type_is_the_image_s(runtime: Any, expected: dict[str, Any]) -> None:
    status, content_type = answer(runtime, expected["output_fn"], expected["accept"])
    assert content_type == expected["content_type"]
    assert status // 100 == expected["status"] // 100 == 2


def test_the_older_flask_images_differ_only_for_a_returned_list() -> None:
    new, old = image_answers("1.9-0"), image_answers("1.4-2")
    differ = {a["output_fn"] for a, b in zip(new, old, strict=True) if a != b}
    assert differ == {"list"}  # Flask 1.1.1 answers 500; smtrain answers as 1.9-0's Flask 3 (README)

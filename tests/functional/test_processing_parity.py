"""CreateProcessingJob equals, field for field, what SDK v2 sends for the same job (captured against moto:
tests/fixtures/parity/sdk_v2/capture_processing.py):

- ``SKLearnProcessor(...).run(code=, inputs=, outputs=, arguments=)`` is ``smtrain process --code FILE``;
- ``FrameworkProcessor(estimator_cls=SKLearn, ...).run(code=, source_dir=)`` is
  ``smtrain process --source-dir DIR --code FILE``, and its runproc.sh is the SDK's, byte for byte.

Two things differ by design and are compared apart: what smtrain uploads goes under the submission's id
(``<job>/input/<id>/...``, ``<job>/source/<id>/...``), so two submissions never write over each other, and
the tags (smtrain's own and the run's provenance; the SDK sends none).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from smtrain.core.config import Config
from smtrain.planning.processing import ProcessingSpec, parse_input, parse_output, plan_process, runproc_script
from smtrain.planning.steps import ApiCall, Upload

REPO = Path(__file__).resolve().parents[2]
CAPTURED = json.loads((REPO / "tests/fixtures/parity/sdk_v2/processing_requests.json").read_text())
ROOT = "s3://parity-bucket"  # the SDK's default bucket, no prefix
SUBMISSION = "s1"


def smtrain_plan(settings: dict[str, Any], tmp_path: Path) -> tuple[dict[str, Any], list[Upload]]:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "a.csv").write_text("x\n1\n")
    request = CAPTURED["cases"]["sklearn_processor"]["request"]
    image = request["AppSpecification"]["ImageUri"]
    framework = settings["source_dir"]
    spec = ProcessingSpec(
        code="penguins_preprocess.py" if framework else str(REPO / "entry_points/penguins_preprocess.py"),
        source_dir=REPO / "entry_points" if framework else None, job_name=settings["job_name"],
        inputs=(parse_input("raw=s3://parity-bucket/data/penguins/raw/:/opt/ml/processing/input"),
                parse_input(f"extra={extra}:/opt/ml/processing/extra")),
        outputs=(parse_output("train=/opt/ml/processing/train"),
                 parse_output("test=/opt/ml/processing/test:s3://parity-bucket/data/penguins/test/")),
        arguments=tuple(settings["arguments"]), environment=settings["env"], instance_type=settings["instance_type"],
        instance_count=settings["instance_count"], max_runtime_seconds=settings["max_runtime"],
        submission_id=SUBMISSION)
    plan = plan_process(spec, Config(backend="sagemaker", region="us-east-1"), root=ROOT, image_uri=image,
                        role=request["RoleArn"])
    (call,) = [step for step in plan if isinstance(step, ApiCall)]
    return dict(call.params), [step for step in plan if isinstance(step, Upload)]


def without_designed_differences(request: dict[str, Any]) -> dict[str, Any]:
    request = copy.deepcopy(request)
    request.pop("Tags", None)
    request.pop("runproc.sh", None)
    return json.loads(json.dumps(request).replace(f"/{SUBMISSION}/", "/").replace(f"/{SUBMISSION}\"", "\""))


@pytest.mark.parametrize("case", sorted(CAPTURED["cases"]))
def test_request_equals_the_sdk_field_for_field(case: str, tmp_path: Path) -> None:
    captured = CAPTURED["cases"][case]
    ours, _ = smtrain_plan(captured["settings"], tmp_path)
    assert without_designed_differences(ours) == without_designed_differences(captured["request"])


@pytest.mark.parametrize("case", sorted(CAPTURED["cases"]))
def test_designed_differences(case: str, tmp_path: Path) -> None:
    ours, uploads = smtrain_plan(CAPTURED["cases"][case]["settings"], tmp_path)
    uploaded = {step.uri.rstrip("/") for step in uploads}
    by_name = {item["InputName"]: item["S3Input"]["S3Uri"] for item in ours["ProcessingInputs"]}
    assert by_name["extra"].endswith(f"/input/{SUBMISSION}/extra") and by_name["extra"] in uploaded
    assert by_name["code"] in uploaded and f"/{SUBMISSION}/" in by_name["code"]
    assert {"Key": "smtrain:managed", "Value": "true"} in ours["Tags"]
    assert "Tags" not in CAPTURED["cases"][case]["request"]


def test_the_framework_processors_runproc_is_the_sdks_byte_for_byte(tmp_path: Path) -> None:
    captured = CAPTURED["cases"]["framework_processor"]
    _, uploads = smtrain_plan(captured["settings"], tmp_path)
    (entrypoint,) = [step for step in uploads if step.kind == "text"]
    assert entrypoint.content == captured["request"]["runproc.sh"] == runproc_script("penguins_preprocess.py")

"""Local batch transform end to end: real model servers, the batch contract, DataProcessing as AWS documents it."""

from __future__ import annotations

import json
import tarfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from smtrain.backends.local.service import LocalSageMaker
from smtrain.backends.local.store.home import LocalHome

# The model adds the row's numbers; it records each request's size, the batch variables it was
# started with and how many requests it holds at once, and rejects a row holding -1.
SCRIPT = '''
import json
import os
import threading
import time

_lock = threading.Lock()
_inflight = [0]


def model_fn(model_dir):
    return None


def _note(entry):
    with open(os.environ["TRANSFORM_NOTES"], "a") as notes:
        notes.write(json.dumps(entry) + "\\n")


def transform_fn(model, body, content_type, accept):
    with _lock:
        _inflight[0] += 1
        inflight = _inflight[0]
    try:
        text = body.decode() if isinstance(body, bytes) else body
        if os.environ.get("SLOW_MODEL"):
            time.sleep(0.2)
        batch = {k: v for k, v in os.environ.items() if k.startswith("SAGEMAKER_") and "BATCH" in k
                 or k in ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS")}
        _note({"bytes": len(text), "lines": len(text.splitlines()), "inflight": inflight, "pid": os.getpid(),
               "env": batch})
        if content_type == "application/json":
            record = json.loads(text)
            values = record["features"] if isinstance(record, dict) and "features" in record else record
            return json.dumps({"label": sum(values)})
        sums = []
        for line in text.splitlines():
            cells = [float(c) for c in line.split(",") if c.strip()]
            if -1 in cells:
                raise ValueError("row has -1")
            sums.append(f"{sum(cells):g}")
        return "\\n".join(sums) + "\\n"
    finally:
        with _lock:
            _inflight[0] -= 1
'''


@pytest.fixture(scope="module")
def model_artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("transform-artifacts")
    (root / "adder.py").write_text(textwrap.dedent(SCRIPT))
    (root / "model").mkdir()
    (root / "model" / "empty.txt").write_text("")
    with tarfile.open(root / "sourcedir.tar.gz", "w:gz") as tar:
        tar.add(root / "adder.py", arcname="adder.py")
    with tarfile.open(root / "model.tar.gz", "w:gz") as tar:
        tar.add(root / "model" / "empty.txt", arcname="empty.txt")
    return {"model": (root / "model.tar.gz").as_uri(), "source": (root / "sourcedir.tar.gz").as_uri()}


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> LocalSageMaker:
    return LocalSageMaker(LocalHome(tmp_path_factory.mktemp("transform") / "home"))


def make_model(sm: LocalSageMaker, artifacts: dict[str, str], name: str, notes: Path, **environment: str) -> str:
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::000000000000:role/x", PrimaryContainer={
        "Image": "smtrain-local/sklearn", "ModelDataUrl": artifacts["model"],
        "Environment": {"SAGEMAKER_PROGRAM": "adder.py", "SAGEMAKER_SUBMIT_DIRECTORY": artifacts["source"],
                        "SAGEMAKER_MODEL_SERVER_WORKERS": "4", "TRANSFORM_NOTES": str(notes), **environment}})
    return name


def run(sm: LocalSageMaker, name: str, model: str, source: Path, output: Path, *, content_type: str = "text/csv",
        accept: str = "text/csv", split: str = "Line", wait: bool = True, **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TransformJobName": name, "ModelName": model,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source.as_uri()}},
                           "ContentType": content_type, "SplitType": split},
        "TransformOutput": {"S3OutputPath": output.as_uri(), "Accept": accept, "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "local", "InstanceCount": 1},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(request.get(key), dict):
            request[key].update(value)
        else:
            request[key] = value
    sm.create_transform_job(**request)
    return wait_done(sm, name) if wait else sm.describe_transform_job(TransformJobName=name)


def wait_done(sm: LocalSageMaker, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        description = sm.describe_transform_job(TransformJobName=name)
        if description["TransformJobStatus"] in ("Completed", "Failed", "Stopped") or time.monotonic() > deadline:
            return description
        time.sleep(0.05)


def notes_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    source, output = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    yield source, output, tmp_path / "notes.jsonl"


def test_each_file_gives_its_out_in_input_order_with_the_batch_variables(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    source, output, notes = folders
    (source / "a.csv").write_text("".join(f"{i},{i}\n" for i in range(50)))
    (source / "sub").mkdir()
    (source / "sub" / "b.csv").write_text("1,2\n3,4\n")
    model = make_model(sm, model_artifacts, "adder-order", notes)
    final = run(sm, "order", model, source, output, MaxPayloadInMB=1, BatchStrategy="MultiRecord",
                MaxConcurrentTransforms=2)
    assert final["TransformJobStatus"] == "Completed", final.get("FailureReason")
    assert (output / "a.csv.out").read_text() == "".join(f"{2 * i}\n" for i in range(50))
    assert (output / "sub" / "b.csv.out").read_text() == "3\n7\n"
    assert sorted(p.name for p in output.rglob("*")) == ["a.csv.out", "b.csv.out", "sub"]  # no partial left
    seen = notes_of(notes)
    assert {json.dumps(n["env"], sort_keys=True) for n in seen} == {json.dumps({
        "SAGEMAKER_BATCH": "True", "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "2"}, sort_keys=True)}
    assert sorted(n["lines"] for n in seen) == [2, 50]  # MultiRecord: each file in one request
    assert final["TransformStartTime"] <= final["TransformEndTime"]
    assert final["SmtrainProgress"] == {"Records": 52, "Files": 2, "FilesTotal": 2}  # what the spinner shows


def test_single_record_sends_one_record_per_request_with_at_most_max_concurrent_in_flight(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    source, output, notes = folders
    (source / "rows.csv").write_text("".join(f"{i},1\n" for i in range(12)))
    model = make_model(sm, model_artifacts, "adder-single", notes, SLOW_MODEL="1")
    final = run(sm, "single", model, source, output, BatchStrategy="SingleRecord", MaxConcurrentTransforms=3)
    assert final["TransformJobStatus"] == "Completed", final.get("FailureReason")
    assert (output / "rows.csv.out").read_text() == "".join(f"{i + 1}\n" for i in range(12))
    seen = notes_of(notes)
    assert [n["lines"] for n in seen] == [1] * 12
    assert max(n["inflight"] for n in seen) <= 3
    assert {n["env"]["SAGEMAKER_BATCH_STRATEGY"] for n in seen} == {"SINGLE_RECORD"}


def test_multi_record_packs_records_up_to_max_payload(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    source, output, notes = folders
    row = ",".join(["1"] * 50_000) + "\n"  # 100,000 bytes a record: ten fit in 1 MB
    (source / "wide.csv").write_text(row * 25)
    model = make_model(sm, model_artifacts, "adder-pack", notes)
    final = run(sm, "pack", model, source, output, MaxPayloadInMB=1)
    assert final["TransformJobStatus"] == "Completed", final.get("FailureReason")
    assert [n["lines"] for n in notes_of(notes)] == [10, 10, 5]
    assert all(n["bytes"] <= 1024 * 1024 for n in notes_of(notes))
    assert (output / "wide.csv.out").read_text() == "50000\n" * 25


def test_instance_count_runs_that_many_servers_and_shares_the_files(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    source, output, notes = folders
    for number in range(4):
        (source / f"part-{number}.csv").write_text(f"{number},0\n")
    model = make_model(sm, model_artifacts, "adder-two", notes, SAGEMAKER_MODEL_SERVER_WORKERS="1")
    final = run(sm, "two", model, source, output, TransformResources={"InstanceCount": 2})
    assert final["TransformJobStatus"] == "Completed", final.get("FailureReason")
    assert [(output / f"part-{n}.csv.out").read_text() for n in range(4)] == ["0\n", "1\n", "2\n", "3\n"]
    assert len({n["pid"] for n in notes_of(notes)}) == 2


def test_a_rejected_record_fails_the_job_naming_file_and_record(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    source, output, notes = folders
    (source / "good.csv").write_text("1,1\n")
    (source / "bad.csv").write_text("1,2\n3,4\n5,-1\n7,8\n")
    model = make_model(sm, model_artifacts, "adder-reject", notes)
    final = run(sm, "reject", model, source, output)
    assert final["TransformJobStatus"] == "Failed"
    reason = final["FailureReason"]
    assert "bad.csv, record 3:" in reason and "answered 500" in reason and "row has -1" in reason
    assert "ValueError: row has -1" in sm.transform_log("reject").read_text()  # the server's traceback, in the log
    assert not (output / "bad.csv.out").exists()
    assert not [p for p in output.rglob("*") if p.name.endswith(".partial")]


@pytest.mark.parametrize(("write", "content_type", "why"), [
    (None, "text/csv", "no input at"),
    ("", "text/csv", "empty"),
    ('{"features": [1, 2]}\n', "text/csv", "is not text/csv"),
    ("1,2\n", "application/json", "not JSON"),
])
def test_a_bad_input_is_refused_before_any_server_starts(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path],
        write: str | None, content_type: str, why: str) -> None:
    source, output, notes = folders
    if write is not None:
        (source / "data").write_text(write)
    else:
        source = source / "missing"
    model = make_model(sm, model_artifacts, f"adder-refuse-{abs(hash((write, content_type))) % 10_000}", notes)
    with pytest.raises(ClientError) as refused:
        run(sm, "refused", model, source, output, content_type=content_type,
            accept=content_type)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert why in refused.value.response["Error"]["Message"]
    assert not notes.exists() and not output.exists()


def test_stop_ends_the_job_stopped_and_leaves_no_partial_out(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    source, output, notes = folders
    (source / "slow.csv").write_text("1,1\n" * 200)
    model = make_model(sm, model_artifacts, "adder-stop", notes, SLOW_MODEL="1")
    run(sm, "stopme", model, source, output, BatchStrategy="SingleRecord", wait=False)
    deadline = time.monotonic() + 60
    while not notes_of(notes) and time.monotonic() < deadline:
        time.sleep(0.05)
    sm.stop_transform_job(TransformJobName="stopme")
    final = wait_done(sm, "stopme")
    assert final["TransformJobStatus"] == "Stopped"
    assert not output.exists() or not list(output.rglob("*.out*"))


def test_the_guides_csv_example_through_a_job(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    """ "Output an ID Column with Results and Exclude the ID Column from the Input (CSV)": the model never
    sees the ID; the output is the whole input row followed by the answer."""
    source, output, notes = folders
    (source / "ids.csv").write_text("id-1,1,2,3,4\nid-2,5,6,7,8\n")
    model = make_model(sm, model_artifacts, "adder-csv-join", notes)
    final = run(sm, "csv-join", model, source, output,
                DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$"})
    assert final["TransformJobStatus"] == "Completed", final.get("FailureReason")
    assert (output / "ids.csv.out").read_text() == "id-1,1,2,3,4,10\nid-2,5,6,7,8,26\n"
    assert all("id-" not in str(n) for n in notes_of(notes))


def test_the_guides_json_example_through_a_job(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    """ "Output an ID Attribute with Results and Exclude the ID Attribute from the Input (JSON)"."""
    source, output, notes = folders
    (source / "rows.jsonl").write_text('{"id": 1, "features": [1, 2]}\n{"id": 2, "features": [3, 4]}\n')
    model = make_model(sm, model_artifacts, "adder-json-join", notes)
    final = run(sm, "json-join", model, source, output, content_type="application/json", accept="application/json",
                BatchStrategy="SingleRecord",
                DataProcessing={"InputFilter": "$.features", "JoinSource": "Input",
                                "OutputFilter": "$['id','SageMakerOutput']"})
    assert final["TransformJobStatus"] == "Completed", final.get("FailureReason")
    lines = [json.loads(line) for line in (output / "rows.jsonl.out").read_text().splitlines()]
    assert lines == [{"id": 1, "SageMakerOutput": {"label": 3}}, {"id": 2, "SageMakerOutput": {"label": 7}}]


def test_a_split_type_the_local_backend_cannot_read_is_refused(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    source, output, notes = folders
    (source / "rows.csv").write_text("1,2\n")
    model = make_model(sm, model_artifacts, "adder-tfrecord", notes)
    with pytest.raises(ClientError) as refused:
        run(sm, "tfrecord", model, source, output, split="TFRecord")
    assert "SplitType TFRecord is not supported locally" in refused.value.response["Error"]["Message"]


def test_data_processing_needs_a_format_it_can_read(
        sm: LocalSageMaker, model_artifacts: dict[str, str], folders: tuple[Path, Path, Path]) -> None:
    source, output, notes = folders
    (source / "rows.csv").write_text("1,2\n")
    model = make_model(sm, model_artifacts, "adder-npy", notes)
    with pytest.raises(ClientError) as refused:
        run(sm, "npy-join", model, source, output, accept="application/x-npy",
            DataProcessing={"JoinSource": "Input"})
    assert "TransformOutput.Accept" in refused.value.response["Error"]["Message"]

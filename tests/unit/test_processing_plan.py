"""Planning a processing job: the flags parsed, the rules checked, the request built (pure, no I/O)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtrain.core.config import Config
from smtrain.core.errors import UsageError
from smtrain.planning.processing import (
    DataInput,
    DataOutput,
    ProcessingSpec,
    check_processing,
    parse_input,
    parse_output,
    plan_process,
)
from smtrain.planning.steps import ApiCall, Upload, Wait


@pytest.mark.parametrize(("text", "expected"), [
    ("raw=data/raw", DataInput("raw", "data/raw", "/opt/ml/processing/input/raw")),
    ("raw=data/raw:/opt/ml/processing/in", DataInput("raw", "data/raw", "/opt/ml/processing/in")),
    ("raw=s3://b/k/", DataInput("raw", "s3://b/k/", "/opt/ml/processing/input/raw")),
    ("raw=s3://b/k/:/opt/ml/processing/in", DataInput("raw", "s3://b/k/", "/opt/ml/processing/in")),
    ("m=file:///x/model.tar.gz:/opt/ml/processing/model",
     DataInput("m", "file:///x/model.tar.gz", "/opt/ml/processing/model")),
])
def test_input_flags(text: str, expected: DataInput) -> None:
    assert parse_input(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("train", DataOutput("train", "/opt/ml/processing/output/train")),
    ("train=/opt/ml/processing/train", DataOutput("train", "/opt/ml/processing/train", "")),
    ("train=/opt/ml/processing/train:s3://b/train/", DataOutput("train", "/opt/ml/processing/train", "s3://b/train/")),
])
def test_output_flags(text: str, expected: DataOutput) -> None:
    assert parse_output(text) == expected


@pytest.mark.parametrize("text", ["raw", "=x", "raw="])
def test_a_malformed_input_names_the_flag(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_input(text)
    assert caught.value.where == "--input"


def spec(**changes: object) -> ProcessingSpec:
    base: dict[str, object] = dict(code="prep.py", job_name="prep-1", submission_id="s1",
                                   inputs=(DataInput("raw", "s3://b/raw/", "/opt/ml/processing/input"),),
                                   outputs=(DataOutput("train", "/opt/ml/processing/train"),))
    base.update(changes)
    return ProcessingSpec(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "where", "says"), [
    (dict(inputs=(DataInput("a", "s3://b/a", "/tmp/a"),)), "--input a", "is not under /opt/ml/processing/"),
    (dict(inputs=(DataInput("a", "s3://b/a", "/opt/ml/processing/x"), DataInput("b", "s3://b/b",
                                                                                 "/opt/ml/processing/x/"))),
     "--input b", "one destination"),
    (dict(outputs=(DataOutput("o", "/opt/ml/processing/a"), DataOutput("o", "/opt/ml/processing/b"))),
     "--output o", "used twice"),
    (dict(outputs=(DataOutput("o", "/opt/ml/output"),)), "--output o", "is not under"),
    (dict(instance_count=0), "--instance-count", "instance count"),
    (dict(max_runtime_seconds=0), "--max-runtime", "max runtime"),
    (dict(source_dir=Path("src"), inputs=(DataInput("entrypoint", "s3://b/e", "/opt/ml/processing/e"),)),
     "--input entrypoint", "is the job's own"),
])
def test_the_rules(changes: dict[str, object], where: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_processing(spec(**changes))
    assert caught.value.where == where and says in caught.value.what


def test_the_plan_uploads_the_code_creates_and_waits() -> None:
    plan = plan_process(spec(), Config(backend="sagemaker", region="eu-west-1"), root="s3://b/p", image_uri="img",
                        role="arn:aws:iam::1:role/r")
    upload, create, wait = plan
    assert isinstance(upload, Upload) and upload.kind == "file"
    assert upload.uri == "s3://b/p/prep-1/input/s1/code/prep.py"
    assert isinstance(create, ApiCall) and create.operation == "CreateProcessingJob"
    assert create.params["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == "s3://b/p/prep-1/output/train"
    assert "StoppingCondition" not in create.params  # as the SDK: only when a max runtime is given
    assert isinstance(wait, Wait) and wait.operation == "DescribeProcessingJob"


def test_network_and_kms_flags() -> None:
    plan = plan_process(spec(subnets=("sn-1",), security_groups=("sg-1",), network_isolation=True,
                             volume_kms_key="vk", output_kms_key="ok", max_runtime_seconds=60),
                        Config(backend="sagemaker", region="eu-west-1"), root="s3://b/p", image_uri="img", role="r")
    (create,) = [step for step in plan if isinstance(step, ApiCall)]
    assert create.params["NetworkConfig"] == {"EnableNetworkIsolation": True,
                                              "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["sn-1"]}}
    assert create.params["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == "vk"
    assert create.params["ProcessingOutputConfig"]["KmsKeyId"] == "ok"
    assert create.params["StoppingCondition"] == {"MaxRuntimeInSeconds": 60}


def test_a_local_output_destination_is_refused_on_sagemaker() -> None:
    with pytest.raises(UsageError) as caught:
        plan_process(spec(outputs=(DataOutput("o", "/opt/ml/processing/o", "out/here"),)),
                     Config(backend="sagemaker", region="eu-west-1"), root="s3://b/p", image_uri="img", role="r")
    assert caught.value.where == "--output o" and "s3://" in caught.value.hint


def test_a_sharded_input_is_sent_as_the_sdk_sends_it_and_must_be_an_input() -> None:
    from smtrain.core.errors import UsageError
    from smtrain.planning.processing import DataInput, ProcessingSpec, check_processing, processing_input

    assert processing_input("raw", "s3://b/raw/", "/opt/ml/processing/input/raw", sharded=True)["S3Input"][
        "S3DataDistributionType"] == "ShardedByS3Key"
    spec = ProcessingSpec(code="x.py", job_name="j", inputs=(DataInput("raw", "s3://b/raw/", "/opt/ml/processing/r"),),
                          sharded=("nope",))
    with pytest.raises(UsageError) as refused:
        check_processing(spec)
    assert refused.value.where == "--sharded" and "raw" in refused.value.hint

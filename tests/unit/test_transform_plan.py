"""`smtrain transform`'s plan: the requests, their defaults, and the flags refused before anything is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smtrain.core.config import Config
from smtrain.core.errors import UsageError
from smtrain.planning.limits import check_transform
from smtrain.planning.steps import ApiCall, Upload, Wait
from smtrain.planning.transform import ServedModel, TransformSpec, plan_transform

SERVED = ServedModel("batch-1", image="img:1", model_data="s3://b/job/output/model.tar.gz", program="penguins.py",
                     submit_directory="s3://b/job/source/sourcedir.tar.gz")


def planned(config: Config, **spec: Any) -> tuple[Any, ...]:
    values: dict[str, Any] = {"source": "job", "input_uri": "s3://b/in/", "job_name": "batch-1", **spec}
    return plan_transform(TransformSpec(**values), config, SERVED, root="s3://b/smtrain", role="arn:role")


def test_the_model_then_the_job_then_its_wait() -> None:
    steps = planned(Config(backend="sagemaker", region="eu-west-1"))
    assert [type(s).__name__ for s in steps] == ["ApiCall", "ApiCall", "Wait"]
    model, job, wait = steps
    assert (model.operation, job.operation) == ("CreateModel", "CreateTransformJob")
    assert model.params["ModelName"] == job.params["ModelName"] == "batch-1"
    assert model.params["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "penguins.py"
    assert isinstance(wait, Wait) and wait.operation == "DescribeTransformJob"
    assert job.params["TransformOutput"]["S3OutputPath"] == "s3://b/smtrain/output/batch-1/"  # beside the artifacts


def test_only_what_was_given_is_sent() -> None:
    (_, job, _) = planned(Config(backend="sagemaker", region="eu-west-1"))
    assert set(job.params) == {"TransformJobName", "ModelName", "TransformInput", "TransformOutput",
                               "TransformResources", "Environment", "Tags"}
    (_, job, _) = planned(Config(backend="sagemaker", region="eu-west-1"), input_filter="$[1:]", join_source="Input",
                          strategy="SingleRecord", max_payload_mb=0, max_concurrent=3)
    assert job.params["DataProcessing"] == {"InputFilter": "$[1:]", "JoinSource": "Input"}
    assert (job.params["BatchStrategy"], job.params["MaxPayloadInMB"], job.params["MaxConcurrentTransforms"]) == (
        "SingleRecord", 0, 3)


def test_a_local_input_is_uploaded_for_sagemaker_and_used_in_place_locally(tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("1,2\n")
    steps = planned(Config(backend="sagemaker", region="eu-west-1"), input_uri=str(data), submission_id="s1")
    upload = steps[0]
    assert isinstance(upload, Upload) and upload.uri == "s3://b/smtrain/batch-1/input/s1/transform/"
    job = next(s for s in steps if isinstance(s, ApiCall) and s.operation == "CreateTransformJob")
    assert job.params["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == upload.uri
    local = planned(Config(backend="local"), input_uri=str(data), output_uri=str(tmp_path / "out"))
    job = next(s for s in local if isinstance(s, ApiCall) and s.operation == "CreateTransformJob")
    assert job.params["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == data.as_uri()
    assert job.params["TransformOutput"]["S3OutputPath"] == (tmp_path / "out").as_uri() + "/"
    assert job.params["TransformResources"]["InstanceType"] == "local"


@pytest.mark.parametrize(("options", "where"), [
    ({"split_type": "Lines"}, "--split-type"),
    ({"strategy": "Multi"}, "--strategy"),
    ({"join_source": "Output"}, "--join-source"),
    ({"max_payload_mb": 101}, "--max-payload"),
    ({"max_payload_mb": -1}, "--max-payload"),
    ({"max_concurrent": 0}, "--max-concurrent"),
    ({"instance_count": 0}, "--instance-count"),
    ({"input_filter": "[1:]"}, "--input-filter"),
    ({"output_filter": "$" + "[0]" * 30}, "--output-filter"),
])
def test_bad_flags_are_refused_naming_the_flag(options: dict[str, Any], where: str) -> None:
    with pytest.raises(UsageError) as refused:
        check_transform(options)
    assert refused.value.where == where


def test_the_spinner_shows_records_and_files_done() -> None:
    from smtrain.execution.following import status_line

    progress = {"SmtrainProgress": {"Records": 12345, "Files": 1, "FilesTotal": 3}}
    assert status_line(progress) == "12,345 records, 1/3 files"
    assert status_line({"SecondaryStatus": "Training"}) == "Training"

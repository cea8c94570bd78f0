"""Managed warm pools: --keep-alive in the request, its limits, and the pool's status in ls and show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smtrain.cli.runs import warm_pool_line
from smtrain.core.config import Config
from smtrain.core.errors import UsageError
from smtrain.planning.limits import check_training
from smtrain.planning.plan import plan_fit
from smtrain.planning.spec import TrainingSpec
from smtrain.planning.steps import ApiCall
from smtrain.runs.listing import COLUMNS, cells
from smtrain.runs.record import from_description

CONFIG = Config(backend="sagemaker", region="eu-west-1")


def training_request(tmp_path: Path, **options: Any) -> dict[str, Any]:
    spec = TrainingSpec(entry_point="train.py", source_dir=tmp_path, channels={}, job_name="job-1", **options)
    plan = plan_fit(spec, CONFIG, root="s3://b/p", image_uri="image", role="arn:aws:iam::1:role/R")
    return dict(next(s for s in plan if isinstance(s, ApiCall)).params)


def test_keep_alive_sets_the_resource_configs_period(tmp_path: Path) -> None:
    resources = training_request(tmp_path, keep_alive_seconds=900)["ResourceConfig"]
    assert resources["KeepAlivePeriodInSeconds"] == 900


def test_without_keep_alive_there_is_no_period(tmp_path: Path) -> None:
    assert "KeepAlivePeriodInSeconds" not in training_request(tmp_path)["ResourceConfig"]


@pytest.mark.parametrize("seconds", [3601, -1])
def test_keep_alive_beyond_sagemakers_limit_is_refused(seconds: int) -> None:
    with pytest.raises(UsageError) as caught:
        check_training("train.py", {}, {}, "", {"keep_alive_seconds": seconds})
    assert caught.value.where == "--keep-alive"
    assert "limit of 0-3600 s" in caught.value.what and "3600" in caught.value.hint


def test_an_hour_is_accepted() -> None:
    check_training("train.py", {}, {}, "", {"keep_alive_seconds": 3600})


def test_keep_alive_with_spot_is_refused() -> None:
    with pytest.raises(UsageError, match="cannot be used with spot"):
        check_training("train.py", {}, {}, "", {"keep_alive_seconds": 60, "spot": True})


def description(**warm_pool: Any) -> dict[str, Any]:
    return {"TrainingJobName": "job-1", "TrainingJobStatus": "Completed",
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2, "KeepAlivePeriodInSeconds": 600},
            "WarmPoolStatus": warm_pool}


def test_ls_shows_the_warm_pools_status_and_retained_time() -> None:
    run = from_description(description(Status="Reused", ResourceRetainedBillableTimeInSeconds=120,
                                       ReusedByJob="job-2"), "sagemaker")
    assert cells(run)[COLUMNS.index("warm_pool")] == "Reused(by job-2, retained 2.0m)"
    available = from_description(description(Status="Available"), "sagemaker")
    assert cells(available)[COLUMNS.index("warm_pool")] == "Available"


def test_a_job_without_a_pool_shows_nothing() -> None:
    body = description()
    del body["WarmPoolStatus"]
    assert cells(from_description(body, "sagemaker"))[COLUMNS.index("warm_pool")] == ""


def test_show_gives_the_billable_retained_time_per_instance() -> None:
    run = from_description(description(Status="Terminated", ResourceRetainedBillableTimeInSeconds=600), "sagemaker")
    assert warm_pool_line(run) == "Terminated(retained 10.0m); retained billable time 600 s x 2 instance(s)"


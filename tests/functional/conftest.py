"""Fixtures shared by the functional tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

DATA_BUCKET = "data-bucket"


@pytest.fixture
def s3() -> Iterator[Any]:
    """An S3 client on moto (in process) with an empty bucket, ``data-bucket``."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=DATA_BUCKET)
        yield client

"""Listing endpoints and choosing what `teardown --all/--expired` removes read every
page, not only the first 100 (moto in process; a local-style client without paginators)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from smtrain.api.session import Session
from smtrain.api.teardown import select_endpoints
from smtrain.aws.session import iterate_pages
from smtrain.backends.sagemaker import SageMakerBackend

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
MANAGED = {"Key": "smtrain:managed", "Value": "true"}
PAST = {"Key": "smtrain:expires-at", "Value": "2020-01-01T00:00:00Z"}


@pytest.fixture
def sagemaker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("sagemaker", region_name=REGION)


def create_endpoint(sagemaker: Any, name: str, tags: list[dict[str, str]]) -> None:
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "i"})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags)


def counting_session() -> tuple[Session, Counter[str]]:
    session = Session(backend="sagemaker", region=REGION, role=ROLE, quiet=True)
    session.backend = SageMakerBackend(session.config, sleep=lambda _: None)
    calls: Counter[str] = Counter()
    session.backend.sagemaker().meta.events.register(  # type: ignore[attr-defined]
        "before-call.sagemaker.*", lambda model, **_: calls.update([model.name]))
    return session, calls


def test_teardown_all_and_expired_see_past_the_first_100(sagemaker: Any) -> None:
    for number in range(103):
        create_endpoint(sagemaker, f"mine-{number:03d}", [MANAGED, PAST] if number % 50 == 0 else [MANAGED])
    create_endpoint(sagemaker, "not-mine", [])
    session, calls = counting_session()
    assert len(session.list_endpoints()) == 104
    assert calls["ListEndpoints"] == 2  # 100 + 4: two pages
    assert sorted(select_endpoints(session, expired_only=False)) == [f"mine-{n:03d}" for n in range(103)]
    assert sorted(select_endpoints(session, expired_only=True, now=dt.datetime.now(dt.timezone.utc))) == [
        "mine-000", "mine-050", "mine-100"]
    assert len(session.list_endpoints(limit=5)) == 5


class PagedClient:
    """A client with no paginators, answering in pages of two like the local backend's."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.requests: list[dict[str, Any]] = []

    def list_endpoints(self, **params: Any) -> dict[str, Any]:
        self.requests.append(params)
        start = int(params.get("NextToken") or 0)
        page: dict[str, Any] = {"Endpoints": [{"EndpointName": n} for n in self.names[start:start + 2]]}
        if start + 2 < len(self.names):
            page["NextToken"] = str(start + 2)
        return page


def test_pages_are_followed_by_next_token_without_a_paginator() -> None:
    client = PagedClient(["a", "b", "c", "d", "e"])
    pages = list(iterate_pages(client, "list_endpoints", {"MaxResults": 2}))
    assert [[e["EndpointName"] for e in p["Endpoints"]] for p in pages] == [["a", "b"], ["c", "d"], ["e"]]
    assert client.requests == [{"MaxResults": 2}, {"MaxResults": 2, "NextToken": "2"},
                               {"MaxResults": 2, "NextToken": "4"}]


def test_the_local_backend_lists_every_endpoint_config(tmp_path: Any) -> None:
    from smtrain.execution.executor import list_all

    session = Session(home=str(tmp_path / "home"), quiet=True)
    service = session.backend.sagemaker()
    for number in range(3):
        service.create_model(ModelName=f"m{number}", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "i"})
    assert len(list_all(session.backend, "ListModels", "Models", limit=2)) == 2
    assert sorted(m["ModelName"] for m in list_all(session.backend, "ListModels", "Models")) == ["m0", "m1", "m2"]

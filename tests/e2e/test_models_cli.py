"""The model registry through the CLI on the local backend: register, list, approve, reject."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Cli
from tests.e2e.test_cli_local import fit_args, prepare

pytestmark = pytest.mark.e2e


def test_register_list_approve_and_reject_versions(cli: Cli) -> None:
    data = prepare(cli)
    fit = cli(*fit_args(data, "--job-name", "reg-1", "--metric-definition", r"accuracy=train_accuracy=([0-9.]+)"))
    assert fit.code == 0, fit.err
    for _ in range(2):
        registered = cli("register", "reg-1", "--group", "penguins")
        assert registered.code == 0, registered.err

    groups = cli("models", "--json")
    assert [g["ModelPackageGroupName"] for g in groups.json()] == ["penguins"]
    versions = cli("models", "penguins", "--json").json()
    assert [(v["ModelPackageVersion"], v["ModelApprovalStatus"]) for v in versions] == [
        (1, "PendingManualApproval"), (2, "PendingManualApproval")]
    assert versions[0]["TrainingJobName"] == "reg-1"
    assert 0 < versions[0]["Metrics"]["accuracy"] <= 1

    approved = cli("approve", "penguins/2", "--description", "better recall")
    assert approved.code == 0 and "penguins/2: Approved" in approved.err
    rejected = cli("reject", "penguins/1")
    assert rejected.code == 0 and "penguins/1: Rejected" in rejected.err
    table = cli("models", "penguins")
    assert table.out.splitlines()[0].startswith("penguins/1\tRejected\treg-1\taccuracy=")
    assert table.out.splitlines()[1].startswith("penguins/2\tApproved\treg-1\taccuracy=")

    deployed = cli("deploy", "penguins/2", "--json")
    assert deployed.code == 0, deployed.err
    assert deployed.json()["EndpointName"] == "penguins" and deployed.json()["EndpointStatus"] == "InService"
    predicted = cli("predict", "penguins", "--body", "Adelie,Torgersen,39.1,18.7,181.0,3750.0")
    assert predicted.code == 0 and json.loads(predicted.out) in (["male"], ["female"]), predicted.err
    refused = cli("deploy", "penguins/1")
    assert refused.code == 2 and "model version penguins/1 is Rejected" in refused.err
    assert "smtrain approve penguins/1" in refused.err
    assert cli("teardown", "penguins").code == 0

    misspelt = cli("approve", "penguin/1")
    assert misspelt.code == 1
    assert "model package group penguin not found" in misspelt.err and "did you mean penguins?" in misspelt.err


@pytest.mark.parametrize(("reference", "message"), [
    ("penguins", "does not name a model version"),
    ("penguins/0", "does not name a model version"),
    ("penguins/x", "does not name a model version"),
])
def test_bad_version_references_are_usage_errors(cli: Cli, reference: str, message: str) -> None:
    result = cli("approve", reference)
    assert result.code == 2
    assert message in result.err and "GROUP/VERSION" in result.err
    assert "Traceback" not in result.err


def test_an_unknown_version_is_not_found(cli: Cli) -> None:
    result = cli("approve", "nothing-here/1")
    assert result.code == 1
    assert "model package group nothing-here not found" in result.err and "smtrain models" in result.err
    assert "Traceback" not in result.err and "unexpected" not in result.err

"""One name, many submissions: exactly one wins, runs its own code, and the others change nothing."""

from __future__ import annotations

import os
import subprocess
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import SMTRAIN

SUBMISSIONS = 8
NAME = "same-name"
SCRIPT = """\
import os, pathlib
pathlib.Path(os.environ["SM_MODEL_DIR"], "marker.txt").write_text("{i}")
print("marker {i}")
"""


def test_concurrent_fits_with_one_name(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("a\n1\n")
    for i in range(SUBMISSIONS):
        (tmp_path / f"src-{i}").mkdir()
        (tmp_path / f"src-{i}" / "train.py").write_text(SCRIPT.format(i=i))
    home = tmp_path / ".smtrain"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env["SMTRAIN_HOME"] = str(home)
    processes = [
        subprocess.Popen([SMTRAIN, "fit", "--entry-point", "train.py", "--source-dir", f"src-{i}",
                          "--channel", "train=data", "--job-name", NAME],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(SUBMISSIONS)
    ]
    outcomes = []
    for process in processes:
        try:
            _, err = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        outcomes.append((process.returncode, err))

    winners = [i for i, (code, _) in enumerate(outcomes) if code == 0]
    assert len(winners) == 1, [code for code, _ in outcomes]
    winner = winners[0]
    for i, (code, err) in enumerate(outcomes):
        if i == winner:
            assert f"marker {winner}" in err  # its own script ran, and its log streamed
            continue
        assert code == 1, err
        assert "already exists" in err and "choose another" in err
        assert "Traceback" not in err and "unexpected" not in err

    # The winner's model holds its own marker; its archive holds its own script; no loser wrote anything.
    with tarfile.open(home / "store" / "smtrain" / "output" / NAME / "output" / "model.tar.gz") as model:
        marker = model.extractfile("marker.txt")
        assert marker is not None and marker.read().decode() == str(winner)
    submissions = list((home / "store" / "smtrain" / NAME / "source").iterdir())
    assert len(submissions) == 1
    with tarfile.open(submissions[0] / "sourcedir.tar.gz") as source:
        script = source.extractfile("train.py")
        assert script is not None and script.read().decode() == SCRIPT.format(i=winner)
    assert [p.name for p in (home / "jobs").iterdir()] == [NAME]


# -- the local create_* operations insert or fail, atomically -----------------------------------------


def race(calls: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    """Run the calls at once (released together by a barrier); their results and their errors."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], Any]) -> None:
        barrier.wait(timeout=30)
        try:
            outcome = call()
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


def clients(home: Path) -> list[Any]:
    """One client per submitter, as separate processes would have (each its own DB connections)."""
    from smtrain.backends.local.service import LocalSageMaker
    from smtrain.backends.local.store.home import LocalHome

    return [LocalSageMaker(LocalHome(home)) for _ in range(SUBMISSIONS)]


CONTAINER = {"Image": "smtrain-local/sklearn", "ModelDataUrl": "file:///nowhere/model.tar.gz"}
VARIANT = {"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "local"}


@pytest.mark.parametrize(("operation", "params", "error_words"), [
    ("create_model", {"ModelName": "m", "PrimaryContainer": CONTAINER}, "Cannot create already existing model"),
    ("create_model_package_group", {"ModelPackageGroupName": "g"}, "Model Package Group already exists"),
])
def test_concurrent_creates_with_one_name(tmp_path: Path, operation: str, params: dict[str, Any],
                                          error_words: str) -> None:
    sms = clients(tmp_path / "home")
    results, errors = race([lambda sm=sm: getattr(sm, operation)(**params) for sm in sms])
    assert len(results) == 1 and len(errors) == SUBMISSIONS - 1
    assert all(isinstance(e, ClientError) and error_words in str(e) for e in errors)


def test_concurrent_endpoint_configs_and_endpoints_with_one_name(tmp_path: Path) -> None:
    sms = clients(tmp_path / "home")
    sms[0].create_model(ModelName="m", PrimaryContainer=CONTAINER)
    results, errors = race([lambda sm=sm: sm.create_endpoint_config(EndpointConfigName="c",
                                                                   ProductionVariants=[VARIANT]) for sm in sms])
    assert len(results) == 1 and all("Cannot create already existing endpoint configuration" in str(e)
                                     for e in errors) and len(errors) == SUBMISSIONS - 1
    try:
        results, errors = race([lambda sm=sm: sm.create_endpoint(EndpointName="e", EndpointConfigName="c")
                                for sm in sms])
        assert len(results) == 1 and len(errors) == SUBMISSIONS - 1
        assert all("Cannot create already existing endpoint" in str(e) for e in errors)
        assert [e["EndpointName"] for e in sms[0].list_endpoints()["Endpoints"]] == ["e"]
    finally:
        sms[0].delete_endpoint(EndpointName="e")

"""Every job kind is handled by every consumer of the kinds: a new kind that one of them misses fails here.

The consumers: the plan's wait, name reservation (executor and both backends), following a job and its
log, ``stop``/``logs`` (finding a job of any kind), the Step Functions runner's ``.sync`` and the
definition check, the CloudFormation role, the not-found listing, and the local service's operations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import botocore.session
import pytest

from smtrain.core.config import Config
from smtrain.execution.executor import QuietReporter, reserved_names
from smtrain.execution.following import find_job, follow_job
from smtrain.planning.kinds import KINDS, JobKind, by_create, by_key, by_operation, by_sync_resource
from smtrain.planning.steps import ApiCall, method_name

MODEL = botocore.session.get_session().get_service_model("sagemaker")
EACH_KIND = pytest.mark.parametrize("kind", KINDS, ids=[kind.key for kind in KINDS])


def members(operation: str, direction: str) -> set[str]:
    shape = getattr(MODEL.operation_model(operation), f"{direction}_shape")
    return set(shape.members) if shape is not None else set()


@EACH_KIND
def test_the_definition_matches_botocores_model(kind: JobKind) -> None:
    assert kind.name_key in members(kind.create, "input")
    assert kind.arn_key in members(kind.create, "output")
    assert {kind.name_key, kind.status_key} <= members(kind.describe, "output")
    assert kind.name_key in members(kind.stop, "input")
    assert kind.summaries_key in members(kind.list, "output")
    for key in (kind.start_time_key, kind.end_time_key, *kind.duration_keys):
        assert not key or key in members(kind.describe, "output"), key
    statuses = set(MODEL.operation_model(kind.describe).output_shape.members[kind.status_key].enum)
    assert set(kind.terminal) <= statuses and "InProgress" in statuses


@EACH_KIND
def test_lookups_find_the_kind(kind: JobKind) -> None:
    assert by_key(kind.key) is kind
    assert by_create(kind.create) is kind
    assert {by_operation(op) for op in (kind.create, kind.describe, kind.stop, kind.list)} == {kind}
    assert by_sync_resource(kind.sync_resource) is kind


@EACH_KIND
def test_the_plan_waits_on_the_kinds_describe(kind: JobKind) -> None:
    wait = kind.wait("done", "job-1")
    assert (wait.operation, dict(wait.params), wait.status_key) == (kind.describe, {kind.name_key: "job-1"},
                                                                   kind.status_key)
    assert set(wait.success) | set(wait.failure) == set(kind.terminal)


class FakeClient:
    """Answers every kind's Create, Describe (terminal at once) and Stop; records the calls."""

    def __init__(self, kind: JobKind, status: str = "Completed") -> None:
        self.kind, self.status, self.calls = kind, status, []
        for operation in (kind.create, kind.describe, kind.stop):
            setattr(self, method_name(operation), self._answer(operation))

    def _answer(self, operation: str) -> Callable[..., dict[str, Any]]:
        def answer(**params: Any) -> dict[str, Any]:
            self.calls.append(operation)
            name = params.get(self.kind.name_key, "")
            return {self.kind.name_key: name, self.kind.status_key: self.status, self.kind.arn_key: f"arn:{name}"}

        return answer


class FakeBackend:
    name = "sagemaker"
    runs_here = False
    poll_seconds = 0.0

    def __init__(self, client: FakeClient) -> None:
        self.client = client
        self.config = Config(backend="sagemaker", region="eu-west-1")
        self.reserved: list[tuple[str, str]] = []
        self.logged: list[str] = []

    def sagemaker(self) -> FakeClient:
        return self.client

    @contextmanager
    def reserve(self, kind: JobKind, name: str) -> Iterator[None]:
        self.reserved.append((kind.key, name))
        yield

    def job_log(self, kind: JobKind, job_name: str, *, follow: bool, is_done: Callable[[], bool]) -> Iterator[str]:
        self.logged.append(kind.key)
        is_done()
        return iter(["a line"])

    def job_code_dir(self, kind: JobKind, job_name: str) -> Path | None:
        return None

    def sleep(self, seconds: float) -> None:
        pass


@EACH_KIND
def test_the_executor_reserves_the_name_of_every_kinds_job(kind: JobKind) -> None:
    backend = FakeBackend(FakeClient(kind))
    plan = (ApiCall("create", "sagemaker", kind.create, {kind.name_key: "job-1"}),
            ApiCall("model", "sagemaker", "CreateModel", {"ModelName": "m"}))
    with reserved_names(plan, backend):  # type: ignore[arg-type]
        assert backend.reserved == [(kind.key, "job-1")]


@EACH_KIND
def test_following_reads_the_kinds_log_and_status(kind: JobKind) -> None:
    backend = FakeBackend(FakeClient(kind))
    final = follow_job(backend, kind, "job-1", QuietReporter())  # type: ignore[arg-type]
    assert final[kind.status_key] == "Completed"
    assert backend.logged == [kind.key]


@EACH_KIND
def test_stop_and_logs_find_a_job_of_the_kind(kind: JobKind) -> None:
    from smtrain.core.errors import NotFoundError

    class OnlyThisKind(FakeClient):
        def __getattr__(self, name: str) -> Any:  # every other kind's Describe: not found
            from botocore.exceptions import ClientError

            def missing(**params: Any) -> dict[str, Any]:
                raise ClientError({"Error": {"Code": "ValidationException", "Message": "Could not find job"}},
                                  name)

            return missing

    backend = FakeBackend(OnlyThisKind(kind))
    found, description = find_job(backend, "job-1")  # type: ignore[arg-type]
    assert found is kind and description[kind.name_key] == "job-1"
    with pytest.raises(NotFoundError):
        find_job(FakeBackend(OnlyThisKind(kind)), "job-1", tuple(k for k in KINDS if k is not kind))  # type: ignore[arg-type]


def definition_of(kind: JobKind) -> dict[str, Any]:
    return {"StartAt": "Run", "TimeoutSeconds": 60, "States": {"Run": {
        "Type": "Task", "Resource": kind.sync_resource, "Parameters": {kind.name_key: "p-1"}, "Next": "Done"},
        "Done": {"Type": "Succeed"}}}


@EACH_KIND
def test_the_runner_waits_for_the_kinds_sync_task(kind: JobKind) -> None:
    from smtrain.pipeline.runner import Runner

    client = FakeClient(kind)
    execution = Runner(definition_of(kind), client, sleep=lambda s: None).run({}, name="e")
    assert execution.status == "SUCCEEDED"
    assert client.calls == [kind.create, kind.describe]
    failing = FakeClient(kind, status="Failed")
    assert Runner(definition_of(kind), failing, sleep=lambda s: None).run({}, name="e").status == "FAILED"


@EACH_KIND
def test_the_cloudformation_role_may_run_and_follow_the_kind(kind: JobKind) -> None:
    from smtrain.pipeline.cfn import policy

    exported = SimpleNamespace(spec=SimpleNamespace(name="p", deploy=SimpleNamespace(endpoint_name=""), group="g"),
                               definition=definition_of(kind), role="arn:aws:iam::1:role/r")
    statements = policy(exported)["Statement"]
    actions = {s["Action"] for s in statements if isinstance(s["Action"], str)}
    assert {f"sagemaker:{a}" for a in (kind.create, kind.describe, kind.stop)} <= actions
    rules = [s["Resource"]["Fn::Sub"] for s in statements if s["Sid"].startswith("Follow")]
    assert len(rules) == 1 and rules[0].endswith(f"rule/{kind.sync_rule}")
    create = next(s for s in statements if s["Action"] == f"sagemaker:{kind.create}")
    assert create["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:"
                                              f"{kind.arn_type}/p-*"}]


@EACH_KIND
def test_not_found_lists_the_kinds_jobs(kind: JobKind) -> None:
    from smtrain.execution.lookups import LISTINGS

    assert LISTINGS[kind.noun] == (kind.list, kind.summaries_key, kind.name_key)


@EACH_KIND
def test_the_local_service_has_every_operation_of_the_kind(kind: JobKind) -> None:
    from smtrain.backends.local.service import LocalSageMaker

    for operation in (kind.create, kind.describe, kind.stop, kind.list):
        assert callable(getattr(LocalSageMaker, method_name(operation), None)), operation


@EACH_KIND
def test_the_local_store_keeps_the_kinds_jobs_apart(kind: JobKind, tmp_path: Path) -> None:
    from smtrain.backends.local.service import LocalSageMaker
    from smtrain.backends.local.store.home import LocalHome

    home = LocalHome(tmp_path)
    assert home.job_dir("j", kind).parent.name in ("jobs", f"{kind.key}-jobs")
    service = LocalSageMaker(home)
    service.reserve_job(kind, "j")
    assert service.release_job(kind, "j") is True


@EACH_KIND
def test_a_local_job_of_the_kind_is_a_row_for_ls(kind: JobKind, tmp_path: Path) -> None:
    from smtrain.backends.local.store.home import LocalHome
    from smtrain.runs.local import list_runs

    body = {kind.name_key: "job-1", kind.status_key: "Completed", kind.arn_key: "arn:x",
            "CreationTime": "2026-12-07T00:00:00+00:00"}
    if kind.end_time_key:
        body[kind.end_time_key] = "2026-12-07T00:01:00+00:00"
    assert LocalHome(tmp_path).state().insert(kind.arn_type, "job-1", body)
    runs, total = list_runs(tmp_path)
    assert total == 1 and (runs[0].name, runs[0].kind, runs[0].status) == ("job-1", kind.key, "Completed")


def test_an_index_of_training_jobs_only_is_rebuilt_for_every_kind(tmp_path: Path) -> None:
    """A store whose run index predates the kinds (one row per name, training jobs only) is re-indexed."""
    import sqlite3

    from smtrain.backends.local.store.home import LocalHome
    from smtrain.backends.local.store.run_index import has_run_index
    from smtrain.runs.local import list_runs

    state = LocalHome(tmp_path).state()
    assert state.insert("training-job", "old-1", {"TrainingJobName": "old-1", "TrainingJobStatus": "Completed",
                                                   "CreationTime": "2026-12-07T00:00:00+00:00"})
    db = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    old_schema = ("DROP TABLE run_rows",
                  "CREATE TABLE run_rows (name TEXT PRIMARY KEY, created TEXT, status TEXT, row TEXT NOT NULL)",
                  "CREATE TRIGGER run_rows_delete AFTER DELETE ON resources BEGIN SELECT 1; END")
    for statement in old_schema:
        db.execute(statement)
    for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND name LIKE 'run_rows_%_%'"
                                 ).fetchall():
        if trigger != "run_rows_delete":
            db.execute(f"DROP TRIGGER {trigger}")
    assert not has_run_index(db)
    db.close()
    LocalHome(tmp_path).state()  # the next writer re-indexes
    runs, total = list_runs(tmp_path)
    assert total == 1 and runs[0].name == "old-1"

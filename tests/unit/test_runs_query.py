"""Filters and sorting of runs, and tag checks."""

from __future__ import annotations

import json

import pytest

from smtrain.core.errors import UsageError
from smtrain.runs import provenance, query
from smtrain.runs.record import Run


def run(name: str, created: str, status: str = "Completed", **metrics: float) -> Run:
    return Run(name=name, backend="local", status=status, created=created, metrics=dict(metrics),
               encoded_hyperparameters={"C": json.dumps(1.0 if name == "a" else 0.5), "sagemaker_program": '"t.py"'},
               tags={"team": "ml" if name != "c" else "ops", "smtrain:git-commit": "abc"})


RUNS = [run("a", "2026-01-01T00:00:00+00:00", accuracy=0.8),
        run("b", "2026-01-03T00:00:00+00:00", accuracy=0.95),
        run("c", "2026-01-02T00:00:00+00:00", status="Failed")]


def names(runs: list[Run]) -> list[str]:
    return [r.name for r in runs]


def test_filters() -> None:
    assert names(query.select(RUNS, statuses=["completed"])) == ["a", "b"]
    assert names(query.select(RUNS, tags=["team=ml"])) == ["a", "b"]
    assert names(query.select(RUNS, tags=["smtrain:git-commit"])) == ["a", "b", "c"]
    assert names(query.select(RUNS, where=["accuracy>0.9"])) == ["b"]
    assert names(query.select(RUNS, where=["accuracy >= 0.8", "C<1"])) == ["b"]  # hyperparameters too


def test_sorting_puts_runs_without_the_metric_last() -> None:
    assert names(query.sort(RUNS)) == ["b", "c", "a"]
    assert names(query.sort(RUNS, "accuracy")) == ["b", "a", "c"]
    assert names(query.sort(RUNS, "accuracy:asc")) == ["a", "b", "c"]


@pytest.mark.parametrize("text", ["accuracy", "accuracy>high", ">0.5", "a>>1"])
def test_bad_conditions_say_how_to_write_them(text: str) -> None:
    with pytest.raises(UsageError, match="cannot read condition") as caught:
        query.parse_condition(text)
    assert caught.value.where == "--where" and "accuracy>0.9" in caught.value.hint


def test_decoded_hyperparameters_hide_sagemaker_keys() -> None:
    assert RUNS[0].hyperparameters == {"C": 1.0}
    assert RUNS[0].entry_point == "t.py"
    assert RUNS[0].user_tags == {"team": "ml"}


@pytest.mark.parametrize(("tags", "message"), [
    ({"smtrain:x": "1"}, "reserved prefix"), ({"aws:x": "1"}, "reserved prefix"),
    ({"k": "a;b"}, "character SageMaker refuses"), ({"k" * 129: "1"}, "1-128 characters"),
])
def test_user_tags_are_checked(tags: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        provenance.check_user_tags(tags)


def test_git_state_outside_a_repository_is_empty(tmp_path: object) -> None:
    assert provenance.git_state(tmp_path) == {}  # type: ignore[arg-type]

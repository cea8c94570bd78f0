"""`smtrain transform` as a user runs it: a fitted job's predictions over a folder, found again by ls/show/logs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Cli
from tests.e2e.test_cli_local import fit_args, prepare


def fitted(cli: Cli, workdir: Path, name: str) -> list[str]:
    """A fitted penguins job, and the test rows without their header (batch input has none)."""
    data = prepare(cli)
    fit = cli(*fit_args(data, "--job-name", name))
    assert fit.code == 0, fit.err
    rows = (workdir / "data" / "penguins" / "test" / "X_test.csv").read_text().splitlines()[1:]
    (workdir / "batch").mkdir()
    (workdir / "batch" / "a.csv").write_text("\n".join(rows[:10]) + "\n")
    (workdir / "batch" / "b.csv").write_text("\n".join(f"{i},{row}" for i, row in enumerate(rows[10:15])) + "\n")
    return rows


def test_transform_a_folder_then_find_the_job(cli: Cli, workdir: Path) -> None:
    fitted(cli, workdir, "penguins-tx")
    planned = cli("plan", "transform", "penguins-tx", "--input", "batch", "--job-name", "tx-plan")
    assert planned.code == 0, planned.err
    assert [step["operation"] for step in planned.json() if step["type"] == "ApiCall"] == [
        "CreateModel", "CreateTransformJob"]

    done = cli("transform", "penguins-tx", "--input", "batch/a.csv", "--job-name", "tx-1", "--output", "out",
               "--json")
    assert done.code == 0, done.err
    job = done.json()
    assert job["TransformJobStatus"] == "Completed" and job["TransformInput"]["SplitType"] == "Line"
    labels = (workdir / "out" / "a.csv.out").read_text().splitlines()
    assert len(labels) == 10 and set(labels) <= {"male", "female"}
    assert "transform job tx-1: Completed" in done.err

    listed = [run["name"] for run in cli("ls", "--json").json_lines()]
    assert "tx-1" in listed
    shown = cli("show", "tx-1")
    assert shown.code == 0 and "transform job tx-1: Completed" in shown.out and "output:" in shown.out
    logs = cli("logs", "tx-1")
    assert logs.code == 0 and "a.csv: 10 record(s)" in logs.out
    stop = cli("stop", "tx-1")
    assert stop.code == 1 and "is in status Completed" in stop.err


def test_join_and_filters_keep_an_id_column_out_of_the_model(cli: Cli, workdir: Path) -> None:
    rows = fitted(cli, workdir, "penguins-tx2")
    done = cli("transform", "penguins-tx2", "--input", "batch/b.csv", "--job-name", "tx-2", "--output", "out",
               "--input-filter", "$[1:]", "--join-source", "Input", "--output-filter", "$[0,-1]")
    assert done.code == 0, done.err
    joined = [line.split(",") for line in (workdir / "out" / "b.csv.out").read_text().splitlines()]
    assert [row[0] for row in joined] == ["0", "1", "2", "3", "4"] and all(len(row) == 2 for row in joined)
    assert {row[1] for row in joined} <= {"male", "female"} and len(rows) > 15


def test_a_missing_input_is_refused_before_anything_starts(cli: Cli, workdir: Path) -> None:
    fitted(cli, workdir, "penguins-tx3")
    refused = cli("transform", "penguins-tx3", "--input", "nowhere", "--job-name", "tx-3")
    assert refused.code == 2 and "no input at" in refused.err and "Traceback" not in refused.err
    assert "tx-3" not in [run["name"] for run in cli("ls", "--json").json_lines()]
    (workdir / "with-header.csv").write_text('{"not": "csv"}\n')
    mistyped = cli("transform", "penguins-tx3", "--input", "with-header.csv", "--job-name", "tx-4")
    assert mistyped.code == 2 and "is not text/csv" in mistyped.err
    import sqlite3

    db = sqlite3.connect(workdir / ".smtrain" / "state.db")
    assert db.execute("SELECT name FROM resources WHERE kind='model'").fetchall() == []  # nothing was created
    bad = cli("transform", "penguins-tx3", "--input", "batch", "--max-payload", "500")
    assert bad.code == 2 and "--max-payload" in bad.err
    assert json.loads(cli("ls", "--json").out.splitlines()[0])["name"] == "penguins-tx3"

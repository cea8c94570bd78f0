"""Metrics that are not finite numbers (nan, inf, -inf, an overflow such as 1e999) never fail a job, and are
stored as null with their text, shown as nan/inf with a warning, and fail every gate closed.

Before: ``json.dumps`` wrote ``NaN``, SQLite's JSON trigger on ``run_rows`` refused it, and a run that diverged
ended "InternalServerError: the local job supervisor exited unexpectedly". Through the CLI as a user runs it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Cli, Result

SCRIPT = """\
import os
print("loss=0.7")
print("loss=nan")
print("grad=1e999")
print("low=-inf")
print("acc=0.9")
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("m")
"""
STEADY = SCRIPT.replace("loss=nan", "loss=0.4").replace("grad=1e999", "grad=2").replace("low=-inf", "low=1")
METRICS = [f"--metric-definition={name}={name}=(\\S+)" for name in ("loss", "grad", "low", "acc")]


def strict(text: str) -> Any:
    """JSON as every other reader takes it: NaN and Infinity are errors."""
    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    project = tmp_path / "project"
    for folder, script in (("diverges", SCRIPT), ("steady", STEADY)):
        (project / folder).mkdir(parents=True)
        (project / folder / "train.py").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    env["SMTRAIN_HOME"] = str(project / ".smtrain")
    return Cli(project, env)


def fit(cli: Cli, name: str, folder: str) -> Result:
    return cli("fit", "--entry-point", "train.py", "--source-dir", folder, "--channel", f"train={folder}",
               "--job-name", name, *METRICS)


@pytest.fixture
def two_runs(cli: Cli) -> Cli:
    for name in ("steady", "diverges"):
        result = fit(cli, name, name)
        assert result.code == 0, result.err
    return cli


def test_a_run_whose_metric_diverges_to_nan_completes(two_runs: Cli) -> None:
    cli = two_runs
    listed = cli("ls", "--json")
    assert listed.code == 0, listed.err
    runs = {run["name"]: run for run in (strict(line) for line in listed.out.splitlines())}
    assert runs["diverges"]["status"] == "Completed" and runs["steady"]["status"] == "Completed"
    assert runs["diverges"]["metrics"] == {"loss": None, "grad": None, "low": None, "acc": 0.9}
    assert runs["diverges"]["non_finite_metrics"] == {"loss": "nan", "grad": "inf", "low": "-inf"}
    assert runs["steady"]["non_finite_metrics"] == {}
    assert ("warning: run diverges: loss=nan, grad=inf, low=-inf are not a finite number "
            "(stored as null; a gate on it fails)") in listed.err
    home = Path(cli.env["SMTRAIN_HOME"])
    db = sqlite3.connect(home / "state.db")
    try:
        body = strict(db.execute("SELECT body FROM resources WHERE name='diverges'").fetchone()[0])
        row = strict(db.execute("SELECT row FROM run_rows WHERE name='diverges'").fetchone()[0])
    finally:
        db.close()
    stored = {m["MetricName"]: (m["Value"], m.get("Text")) for m in body["FinalMetricDataList"]}
    assert stored == {"loss": (None, "nan"), "grad": (None, "1e999"), "low": (None, "-inf"), "acc": (0.9, None)}
    assert row["FinalMetricDataList"] == body["FinalMetricDataList"]
    history = [strict(line) for line in (home / "jobs" / "diverges" / "metrics.jsonl").read_text().splitlines()]
    assert [(p["MetricName"], p["Value"]) for p in history] == [
        ("loss", 0.7), ("loss", None), ("grad", None), ("low", None), ("acc", 0.9)]
    table = cli("ls")
    assert table.code == 0 and "loss=nan grad=inf low=-inf acc=0.9" in table.out, table.out


def test_show_diff_and_report_show_nan_and_the_gate_fails_closed(two_runs: Cli) -> None:
    cli = two_runs
    shown = cli("show", "diverges")
    assert shown.code == 0, shown.err
    assert "  loss = nan  (not a finite number)" in shown.out and "  grad = inf  (not a finite number)" in shown.out
    assert "warning: run diverges: loss=nan" in shown.err
    document = strict(cli("show", "diverges", "--json").out)
    assert document["metrics"]["loss"] is None and document["non_finite_metrics"]["grad"] == "inf"
    assert [p["Value"] for p in document["metric_history"] if p["MetricName"] == "loss"] == [0.7, None]

    diff = cli("diff", "steady", "diverges", "--no-source")
    assert diff.code == 0, diff.err
    assert "  loss: 0.4 -> nan\n" in diff.out and "  grad: 2 -> inf\n" in diff.out
    rows = {r["name"]: r for r in strict(cli("diff", "steady", "diverges", "--no-source", "--json").out)["metrics"]}
    assert rows["loss"] == {"name": "loss", "a": 0.4, "b": None, "delta": None, "changed": True, "b_text": "nan"}
    assert rows["acc"]["changed"] is False

    for gate, shown_value in (("loss<1", "nan"), ("grad>0", "inf"), ("low<5", "-inf")):
        report = cli("report", "diverges", "--baseline", "steady", "--gate", gate, "--json")
        assert report.code == 1, report.err
        assert f"gate FAILED: {gate} (this run: {shown_value}, not a finite number: the gate fails closed)" \
            in report.err
        record = strict(report.out)
        assert record["gate"]["passed"] is False and record["gate"]["value"] is None
        assert record["metrics"][gate[:-2].rstrip("<>")] is None
    passing = cli("report", "steady", "--baseline", "diverges", "--gate", "loss<1")
    assert passing.code == 0, passing.err
    refused = cli("report", "steady", "--gate", "loss<nan")
    assert refused.code == 2 and "error: --gate: the threshold of 'loss<nan' is not a finite number" in refused.err
    assert "Traceback" not in refused.err and "unexpected" not in refused.err
    where = cli("ls", "--json", "--where", "grad>0")
    assert [strict(line)["name"] for line in where.out.splitlines()] == ["steady"]


def test_one_run_with_a_non_numeric_metric_does_not_break_ls(two_runs: Cli) -> None:
    cli = two_runs
    db = sqlite3.connect(Path(cli.env["SMTRAIN_HOME"]) / "state.db", isolation_level=None)
    try:  # a record edited by hand: the metric's value is text
        body = json.loads(db.execute("SELECT body FROM resources WHERE name='steady'").fetchone()[0])
        body["FinalMetricDataList"][0]["Value"] = "oops"
        body["FinalMetricDataList"].append({"Value": 1})  # and an entry with no name at all
        db.execute("UPDATE resources SET body=? WHERE name='steady'", (json.dumps(body),))
    finally:
        db.close()
    listed = cli("ls", "--json")
    assert listed.code == 0, listed.err
    runs = {run["name"]: run for run in (strict(line) for line in listed.out.splitlines())}
    assert set(runs) == {"steady", "diverges"}
    assert runs["steady"]["metrics"] == {"loss": None, "grad": 2.0, "low": 1.0, "acc": 0.9}
    assert runs["steady"]["non_finite_metrics"] == {"loss": "nan"}
    assert "warning: run steady: loss=nan is not a finite number" in listed.err
    assert cli("show", "steady").code == 0


def test_the_local_pipeline_gate_fails_closed_on_an_infinite_metric(cli: Cli) -> None:
    # grad=1e999 reads as inf, which a plain `>=` comparison would pass: stored as null, the gate rejects it
    ran = cli("pipeline", "run", "--local", "--name", "diverging", "--entry-point", "train.py",
              "--source-dir", "diverges", "--channel", "train=diverges", *METRICS, "--gate-metric", "grad",
              "--gate-threshold", "0.5", "--approve", "--execution-name", "e1", timeout=300)
    assert ran.code == 0, ran.err
    assert "ok Check threshold: Succeeded - next: Reject" in ran.err and "execution e1: SUCCEEDED" in ran.err
    models = cli("models", "diverging")
    assert models.code == 0, models.err
    assert models.out.startswith("diverging/1\tRejected\tdiverging-e1-train-0\t"), models.out
    assert "grad=inf" in models.out
    assert all(run["endpoints"] == [] for run in (strict(line) for line in cli("ls", "--json").out.splitlines()))

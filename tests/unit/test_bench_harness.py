"""The bench harness (bench/run.py, bench/table.py) without running any bench: argument parsing,
goal evaluation and table rendering on made-up figures. No timing is measured or asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import run  # type: ignore[import-not-found]  # noqa: E402
from table import Goal, Row, console, format_value, markdown, skipped  # type: ignore[import-not-found]  # noqa: E402


def test_ratio_goal_met_and_missed() -> None:
    fit = Row("fit", "local fit, penguins", 1.05, "direct", 1.0, goal=Goal("ratio_max", 1.10))
    slow = Row("fit", "local fit, penguins", 1.2, "direct", 1.0, goal=Goal("ratio_max", 1.10))
    assert fit.met is True
    assert slow.met is False


def test_throughput_goal_is_a_minimum_ratio() -> None:
    row = Row("serve", "runtime API vs MLflow", 400.0, "MLflow", 100.0, unit="req/s", goal=Goal("ratio_min", 3.0))
    assert row.ratio == pytest.approx(4.0)
    assert row.met is True
    assert Row("serve", "x", 200.0, "MLflow", 100.0, unit="req/s", goal=Goal("ratio_min", 3.0)).met is False


def test_absolute_goal_needs_no_peer() -> None:
    assert Row("deploy", "deploy", 1.2, goal=Goal("value_max", 1.5)).met is True
    assert Row("deploy", "deploy", 1.6, goal=Goal("value_max", 1.5)).met is False


def test_skipped_and_goalless_rows_have_no_verdict() -> None:
    assert skipped("sync", "first sync", "awscli could not be installed").met is None
    assert Row("startup", "--help", 0.05, "python -c pass", 0.03).met is None


def test_markdown_table_shows_figures_ratio_goal_and_reason() -> None:
    rows = [
        Row("ls", "`smtrain ls`, empty store", 0.09, "`python -c pass`", 0.03, goal=Goal("ratio_max", 3.0)),
        Row("serve", "1 row at concurrency 8", 380.0, "the container", 500.0, unit="req/s",
            goal=Goal("ratio_min", 0.9)),
        skipped("submit", "submit vs SDK v2", "pip install failed"),
    ]
    text = markdown(rows)
    lines = text.strip().splitlines()
    assert len(lines) == 2 + len(rows)
    assert "| `smtrain ls`, empty store | 90 ms | `python -c pass`, 30 ms | 3.00x | <= 3.00x | **met** |" in text
    assert "380 req/s" in text and "0.76x" in text and "**NOT met**" in text
    assert "| skipped | pip install failed |" in text
    assert "skipped" in console(rows)


def test_values_are_formatted_by_unit() -> None:
    assert format_value(0.1234, "s") == "123 ms"
    assert format_value(1.5, "s") == "1.500 s"
    assert format_value(1234.4, "req/s") == "1,234 req/s"
    assert format_value(None, "s") == "-"


def test_rows_survive_the_json_between_worker_and_parent() -> None:
    row = Row("fit", "f", 1.0, "p", 2.0, goal=Goal("ratio_max", 1.1), samples={"a": [1.0]})
    assert Row.from_json(row.to_json()) == row


def test_options() -> None:
    args = run.parse(["--quick", "--only", "ls,sync", "--runs", "3"])
    assert (args.quick, args.names, args.runs) == (True, ["ls", "sync"], 3)
    assert run.parse([]).names == list(run.BENCHES)
    with pytest.raises(SystemExit):
        run.parse(["--only", "nosuch"])


def test_every_bench_names_an_existing_function() -> None:
    import importlib

    for bench in run.BENCHES.values():
        assert callable(getattr(importlib.import_module(bench.module), bench.function))


def test_serving_rows_skip_a_missing_peer_and_keep_the_others() -> None:
    from suite_serve import rows_from  # type: ignore[import-not-found]

    results = {(payload, concurrency, target): [{"throughput": 100.0, "p50": 0.01}]
               for payload in ("1 row", "1,000 rows") for concurrency in (1, 8)
               for target in ("api", "container")}
    rows = rows_from(results, {"mlflow": "MLflow unavailable: pip install failed"})
    assert [row.skipped for row in rows if "MLflow" in row.figure] == ["MLflow unavailable: pip install failed"] * 4
    measured = [row for row in rows if not row.skipped]
    assert len(measured) == 4 and all(row.ratio == 1.0 for row in measured)
    assert [row.met for row in measured] == [None, True, None, True]  # goals apply at concurrency 8


def test_the_costs_of_deliberate_features_are_benches_of_their_own() -> None:
    assert run.parse(["--only", "packing,frameworks"]).names == ["packing", "frameworks"]
    assert {"packing", "frameworks"} <= set(run.BENCHES)


def test_the_packing_row_compares_archives_of_the_same_files(tmp_path: Path) -> None:
    import tarfile

    from suite_costs import plain_tar  # type: ignore[import-not-found]
    from suite_fit import many_files  # type: ignore[import-not-found]

    from smtrain.files.tarballs import pack_source

    source = many_files(tmp_path / "src", count=30)
    pack_source(source, "penguins.py", tmp_path / "smtrain.tar.gz")
    plain_tar(source, tmp_path / "plain.tar.gz")

    def files(archive: Path) -> list[str]:
        with tarfile.open(archive) as tar:
            return sorted(member.name.removeprefix("./") for member in tar if member.isfile())

    assert files(tmp_path / "smtrain.tar.gz") == files(tmp_path / "plain.tar.gz")
    assert len(files(tmp_path / "plain.tar.gz")) == 31


def test_a_run_drops_the_no_bytecode_setting_so_timed_programs_read_compiled_modules(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import subprocess

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda argv, **_: calls.append(argv) or subprocess.CompletedProcess(
        argv, 0, "", ""))
    assert run.keep_bytecode() == "bytecode: compiled once, untimed"
    assert "PYTHONDONTWRITEBYTECODE" not in os.environ
    assert calls and calls[0][1:4] == ["-m", "compileall", "-q"] and calls[0][-1].endswith("smtrain")

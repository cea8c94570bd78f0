"""notebooks/penguins.ipynb runs top to bottom on a real Jupyter kernel."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def test_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    shutil.copytree(REPO / "entry_points", tmp_path / "entry_points")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setenv("SMTRAIN_HOME", str(tmp_path / ".smtrain"))
    notebook = nbformat.read(REPO / "notebooks" / "penguins.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path / "notebooks")}},
    )
    client.execute()
    outputs = "".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )
    assert "test accuracy:" in outputs
    assert "InService" in outputs
    assert "Endpoint" in outputs  # what teardown removed
    fit_cell = next(cell for cell in notebook.cells if cell.cell_type == "code" and "sm.fit(" in cell.source)
    streams = {output.get("name") for output in fit_cell.outputs if output.output_type == "stream"}
    assert streams == {"stdout"}  # progress is notebook output, not red stderr
    assert "training job" in "".join(output.get("text", "") for output in fit_cell.outputs)
    tune_cell = next(cell for cell in notebook.cells if cell.cell_type == "code" and "sm.tune(" in cell.source)
    results = "".join(str(output.get("data", {}).get("text/plain", "")) for output in tune_cell.outputs)
    assert "test_accuracy" in results and results.count("Completed") == 6  # tuner.results(): one row per trial
    chart_cell = notebook.cells[notebook.cells.index(tune_cell) + 1]
    assert "tuner.best_job" in chart_cell.source
    assert any("image/png" in output.get("data", {}) for output in chart_cell.outputs)  # the tuning chart
    best = "".join(str(output.get("data", {}).get("text/plain", "")) for output in chart_cell.outputs)
    assert re.search(r"-00[1-6]-[0-9a-f]{8}'", best), best  # the best job is one of its trials
    if any("plt." in cell.source for cell in notebook.cells if cell.cell_type == "code"):
        assert any("image/png" in output.get("data", {})
                   for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)

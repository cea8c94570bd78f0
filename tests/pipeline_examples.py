"""The pipeline the tests, the golden files and the README use: penguins, gated on training accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smtrain.pipeline.build import Exported, export, pipeline_spec
from smtrain.pipeline.spec import Gate, PipelineSpec
from tests.conftest import REPO

ROOT = "s3://example-bucket/smtrain"
METRIC = "train:accuracy"
HYPERPARAMETERS = {"target": "sex", "numeric-features": "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g",
                   "categorical-features": "species,island", "C": 0.5}
# The README's example, flag for flag.
README_FLAGS = ["--name", "penguins", "--entry-point", "penguins.py", "--source-dir", "entry_points",
                "--channel", "train=s3://example-bucket/smtrain/data/penguins/train/",
                "--metric-definition", "train:accuracy=train_accuracy=([0-9.]+)",
                "--gate-metric", "train:accuracy", "--gate-threshold", "0.8", "--gate-champion", "--approve",
                "--ttl", "3600"]


def penguins(session: Any, *, root: str = ROOT, **options: Any) -> Exported:
    return export(session, penguins_spec(session, **options), root=root)


def penguins_spec(session: Any, *, channel: str = f"{ROOT}/data/penguins/train/",
                  source_dir: Path = REPO / "entry_points", entry_point: str = "penguins.py", gate: Gate | None = None,
                  name: str = "penguins", hyperparameters: dict[str, Any] | None = None, **deploy: Any) -> PipelineSpec:
    return pipeline_spec(
        session, name=name, entry_point=entry_point,
        fit={"source_dir": source_dir, "channels": {"train": channel},
             "hyperparameters": HYPERPARAMETERS if hyperparameters is None else hyperparameters,
             "metric_definitions": {METRIC: r"train_accuracy=([0-9.]+)"}},
        group=name, approve=True, deploy={"ttl_seconds": 3600, **deploy},
        gate=Gate(METRIC, 0.8, champion=True) if gate is None else gate, timeout_seconds=7200)

"""A local job is served on its own framework version, whatever the session's default is.

No framework environment is built: the job record is written to the store as
the local backend writes a finished one, and only the deploy plan is read.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from smtrain.api.session import Session
from smtrain.backends.local.backend import LocalBackend
from smtrain.backends.local.environments.frameworks import version_from_image
from smtrain.backends.local.jobs import job_state
from smtrain.backends.local.store.state import StateDB
from smtrain.backends.local.training.operations import _new_record
from smtrain.core.config import Config
from smtrain.planning.plan import LOCAL_ROLE, plan_fit
from smtrain.planning.spec import TrainingSpec


def finished_job(home: Path, name: str, framework_version: str) -> None:
    source = home.parent / "src"
    source.mkdir(exist_ok=True)
    (source / "train.py").write_text("print('trained')\n")
    spec = TrainingSpec(entry_point="train.py", source_dir=source, channels={}, hyperparameters={}, job_name=name)
    image = LocalBackend(Config(home=home)).image_uri(framework_version)
    call = next(step for step in plan_fit(spec, Config(), root=(home / "store").as_uri(), image_uri=image,
                                          role=LOCAL_ROLE) if getattr(step, "operation", "") == "CreateTrainingJob")
    body = _new_record(dict(call.params), "us-east-1")  # type: ignore[union-attr]
    job_state.finish(body, "Completed", job_state.now_iso())
    body["ModelArtifacts"] = {"S3ModelArtifacts": (home / "store" / name / "model.tar.gz").as_uri()}
    StateDB(home / "state.db")
    with closing(sqlite3.connect(home / "state.db")) as db, db:
        db.execute("INSERT INTO resources VALUES (?, ?, ?)", ("training-job", name, json.dumps(body)))


@pytest.mark.parametrize("session_version", ["", "1.9-0"])
def test_a_local_job_trained_on_1_4_2_is_served_on_1_4_2(tmp_path: Path, session_version: str) -> None:
    home = tmp_path / ".smtrain"
    finished_job(home, "on-1-4-2", "1.4-2")
    session = Session(backend="local", home=str(home), framework_version=session_version, quiet=True)

    _spec, plan, existing = session.plan_deploy("on-1-4-2")

    model = next(step for step in plan if getattr(step, "operation", "") == "CreateModel")
    image = model.params["PrimaryContainer"]["Image"]  # type: ignore[attr-defined]
    assert session.config.framework_version == session_version
    assert existing is None
    assert image == "smtrain-local/sklearn:1.4-2"
    assert version_from_image(image) == "1.4-2"  # what the local model server builds its environment from

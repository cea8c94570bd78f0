"""`smtrain ls` piped stays light: what it imports is checked, not timed (the bench times it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from smtrain.backends.local.store.state import StateDB

HEAVY = ("rich", "botocore", "boto3", "pandas", "sklearn", "smtrain.api.session", "smtrain.runs.query",
         "smtrain.backends.local.service", "smtrain.backends.local.serving.operations",
         "smtrain.backends.local.training.operations")
LS_THEN_MODULES = (
    "import sys\nsys.argv = ['smtrain', 'ls']\nfrom smtrain.entry import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    f"print('heavy:', sorted(m for m in {HEAVY!r} if m in sys.modules))"
)


def test_ls_piped_imports_nothing_heavy(tmp_path: Path) -> None:
    StateDB(tmp_path / ".smtrain" / "state.db")  # an empty store, as the local backend makes it
    (tmp_path / "smtrain.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTRAIN_"))}
    done = subprocess.run([sys.executable, "-c", LS_THEN_MODULES], cwd=tmp_path, env=env, capture_output=True,
                          text=True, check=True, timeout=60)
    assert done.stdout.splitlines()[-1] == "heavy: []", done.stderr

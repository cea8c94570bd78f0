"""A framework environment really built with the image's own Python (another one than this), from PyPI.

Built into pytest's cache directory, so only the first run pays for it. Skipped where the machine has no
such Python (the CI machines have pyenv's 3.10, 3.12 and 3.13).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from smtrain.backends.local.environments import frameworks, pythons

# 1.4-2's image runs Python 3.10; on 3.10 itself, 1.9-0's (3.12) is the other one.
VERSION = "1.9-0" if frameworks.python_version() == "3.10" else "1.4-2"
IMAGE = frameworks.table()[VERSION]
OTHER = frameworks.image_interpreter(IMAGE)
PROBE = ("import json, platform, sklearn, numpy, flask, sagemaker_containers.beta.framework\n"
         "import smtrain.backends.local.serving.container\n"
         "print(json.dumps([platform.python_version(), sklearn.__version__, numpy.__version__]))")


@pytest.mark.skipif(OTHER is None, reason=f"no Python {IMAGE.python} on this machine")
def test_the_environment_runs_the_image_python_with_its_pins_and_smtrain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.setenv(frameworks.CACHE_VARIABLE, str(request.config.cache.mkdir("smtrain-frameworks")))
    monkeypatch.setenv(pythons.EXACT_VARIABLE, "1")  # even where this scikit-learn already matches

    def run(command: Any, cwd: Path) -> int:
        return subprocess.call(list(command), cwd=cwd, stdout=sys.stderr)

    environment = frameworks.environment_for(VERSION, tmp_path, run, lambda message: None)

    assert OTHER is not None and environment.interpreter == OTHER and environment.kind == "built"
    done = subprocess.run([environment.python, "-c", PROBE], capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    python, sklearn, numpy = json.loads(done.stdout)
    assert python.rsplit(".", 1)[0] == IMAGE.python
    assert (sklearn, numpy) == (IMAGE.pinned("scikit-learn"), IMAGE.pinned("numpy"))
    entry = frameworks.record(environment, frameworks.library_versions(environment.python))
    assert entry["Python"] == python and entry["PythonFrom"].startswith(OTHER.found_by)
    assert entry["Libraries"]["scikit-learn"] == sklearn

    # requirements.txt layers on that environment with the same Python
    from smtrain.backends.local.environments.venvs import ensure_venv

    (tmp_path / "requirements.txt").write_text(f"numpy=={numpy}\n")  # already there: nothing to download
    layered = ensure_venv(tmp_path / "requirements.txt", tmp_path / "venvs", run, base=environment.venv,
                          python=environment.base_python)
    done = subprocess.run([str(layered), "-c", PROBE], capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [python, sklearn, numpy]

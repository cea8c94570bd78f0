"""Which Python a framework environment is built with: fake interpreters on PATH, a fake pyenv root, conda."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from smtrain.backends.local.environments import frameworks, pythons
from smtrain.backends.local.environments.frameworks import FrameworkError
from smtrain.backends.local.environments.pythons import Interpreter


def fake_python(path: Path, version: str, *, answers: bool = True) -> Path:
    """An executable that answers the probe as Python ``version`` would (or fails, like an unselected shim)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    unselected = "echo 'pyenv: version not installed' >&2; exit 127"
    body = f"echo '{json.dumps([version, str(path)])}'" if answers else unselected
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "bin").mkdir(exist_ok=True)
    return {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path / "home"), **extra}


def test_a_python_on_path_is_found(tmp_path: Path) -> None:
    python = fake_python(tmp_path / "bin" / "python3.12", "3.12.4")
    found = pythons.find("3.12", environ(tmp_path))
    assert found == Interpreter(str(python), "3.12.4", "PATH")
    assert found.minor == "3.12"


def test_a_shim_that_does_not_answer_falls_through_to_the_newest_pyenv_patch(tmp_path: Path) -> None:
    fake_python(tmp_path / "bin" / "python3.12", "", answers=False)
    root = tmp_path / "pyenv"
    fake_python(root / "versions" / "3.12.1" / "bin" / "python", "3.12.1")
    newest = fake_python(root / "versions" / "3.12.10" / "bin" / "python", "3.12.10")
    fake_python(root / "versions" / "3.13.0" / "bin" / "python", "3.13.0")
    fake_python(root / "versions" / "3.12-dev" / "bin" / "python", "3.12.11")
    found = pythons.find("3.12", environ(tmp_path, PYENV_ROOT=str(root)))
    assert found == Interpreter(str(newest), "3.12.10", "pyenv")


def test_pyenv_defaults_to_the_home_folder(tmp_path: Path) -> None:
    python = fake_python(tmp_path / "home" / ".pyenv" / "versions" / "3.10.13" / "bin" / "python", "3.10.13")
    assert pythons.find("3.10", environ(tmp_path)) == Interpreter(str(python), "3.10.13", "pyenv")


def test_the_setting_comes_first_and_one_of_another_version_is_passed_over(tmp_path: Path) -> None:
    wrong = fake_python(tmp_path / "opt" / "py310" / "python", "3.10.2")
    right = fake_python(tmp_path / "opt" / "py312" / "python", "3.12.7")
    fake_python(tmp_path / "bin" / "python3.12", "3.12.4")
    env = environ(tmp_path, SMTRAIN_FRAMEWORK_PYTHON=f"{wrong}:{right}")
    assert pythons.find("3.12", env) == Interpreter(str(right), "3.12.7", "SMTRAIN_FRAMEWORK_PYTHON")
    assert pythons.find("3.10", env) == Interpreter(str(wrong), "3.10.2", "SMTRAIN_FRAMEWORK_PYTHON")


def test_conda_environments_are_found(tmp_path: Path) -> None:
    env_dir = tmp_path / "anaconda3" / "envs" / "py312"
    python = fake_python(env_dir / "bin" / "python3.12", "3.12.3")
    (tmp_path / "home" / ".conda").mkdir(parents=True)
    (tmp_path / "home" / ".conda" / "environments.txt").write_text(f"{env_dir}\n")
    assert pythons.find("3.12", environ(tmp_path)) == Interpreter(str(python), "3.12.3", "conda")
    (tmp_path / "home" / ".conda" / "environments.txt").unlink()
    conda = fake_python(tmp_path / "anaconda3" / "bin" / "conda", "")
    assert pythons.find("3.12", environ(tmp_path, CONDA_EXE=str(conda))) == Interpreter(str(python), "3.12.3", "conda")


def test_nothing_found_says_where_it_looked(tmp_path: Path) -> None:
    env = environ(tmp_path, SMTRAIN_FRAMEWORK_PYTHON="/nowhere/python")
    assert pythons.find("3.12", env) is None
    looked = pythons.where_looked("3.12", env)
    assert "/nowhere/python" in looked and "python3.12 on PATH" in looked and "versions/3.12.*" in looked


@pytest.mark.parametrize(("value", "exact"), [("1", True), ("true", True), ("0", False), ("", False)])
def test_the_exact_python_setting(value: str, exact: bool) -> None:
    assert pythons.exact_requested({pythons.EXACT_VARIABLE: value}) is exact


# -- how environment_for uses it -------------------------------------------------------------------

PY312 = Interpreter("/fake/python3.12", "3.12.9", "pyenv")


def never_run(command: Any, cwd: Path) -> int:
    raise AssertionError(f"nothing should be installed, not {command}")


@pytest.fixture
def here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """This interpreter is Python 3.11 with scikit-learn 1.9.1; the machine's Pythons are ``found``."""
    found: dict[str, Interpreter] = {}
    monkeypatch.setattr(frameworks, "python_version", lambda: "3.11")
    monkeypatch.setattr(frameworks, "installed", lambda name: {"scikit-learn": "1.9.1"}.get(name, "1.0"))
    monkeypatch.setattr(pythons, "find", lambda minor, environ=None: found.get(minor))
    monkeypatch.setenv(frameworks.CACHE_VARIABLE, str(tmp_path / "cache"))
    monkeypatch.delenv(pythons.EXACT_VARIABLE, raising=False)
    monkeypatch.delenv(frameworks.TEST_DEFAULT_VARIABLE, raising=False)
    built: list[Interpreter] = []

    def build_other(found_entry: Any, venv: Path, run: Any, other: Interpreter) -> Path:
        built.append(other)
        return venv

    monkeypatch.setattr(frameworks, "_build_other", build_other)
    (tmp_path / "train.py").write_text("import sklearn\n")
    return {"found": found, "built": built, "code": tmp_path}


def test_the_fast_path_stays_when_the_image_python_exists(here: dict[str, Any]) -> None:
    here["found"]["3.12"] = PY312
    environment = frameworks.environment_for("1.9-0", here["code"], never_run, lambda message: None)
    assert (environment.kind, environment.interpreter, here["built"]) == ("matched", None, [])


def test_the_exact_setting_builds_with_the_image_python_even_on_the_fast_path(
    here: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    here["found"]["3.12"] = PY312
    monkeypatch.setenv(pythons.EXACT_VARIABLE, "1")
    said: list[str] = []
    environment = frameworks.environment_for("1.9-0", here["code"], never_run, said.append)
    assert (environment.kind, environment.interpreter, here["built"]) == ("built", PY312, [PY312])
    assert environment.base_python == PY312.executable and "py3.12" in str(environment.venv)
    assert "with the image's Python 3.12.9 (pyenv: /fake/python3.12" in said[0]
    entry = frameworks.record(environment, {"scikit-learn": "1.9.0"})
    assert (entry["Python"], entry["PythonFrom"], entry["ImagePython"]) == ("3.12.9", "pyenv: /fake/python3.12", "3.12")


def test_the_exact_setting_without_that_python_is_an_error_naming_what_to_install(
    here: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pythons.EXACT_VARIABLE, "1")
    with pytest.raises(FrameworkError, match=r"Python 3\.12.*pyenv install 3\.12"):
        frameworks.environment_for("1.9-0", here["code"], never_run, lambda message: None)


def test_a_build_uses_the_image_python_when_the_machine_has_it(here: dict[str, Any]) -> None:
    py310 = Interpreter("/fake/python3.10", "3.10.13", "PATH")
    here["found"]["3.10"] = py310
    environment = frameworks.environment_for("1.4-2", here["code"], never_run, lambda message: None)
    assert (environment.kind, environment.interpreter, environment.warning) == ("built", py310, "")


def test_without_the_image_python_a_build_on_this_python_says_so(
    here: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frameworks, "_build", lambda found, venv, run, with_libraries: venv)
    environment = frameworks.environment_for("1.4-2", here["code"], never_run, lambda message: None)
    assert (environment.kind, environment.interpreter, here["built"]) == ("built", None, [])
    assert "runs Python 3.10, which was not found" in environment.warning
    assert "on Python 3.11" in environment.warning and "pyenv install 3.10" in environment.warning


def test_images_older_than_smtrain_s_own_python_run_on_this_one(here: dict[str, Any]) -> None:
    here["found"]["3.9"] = Interpreter("/fake/python3.9", "3.9.18", "pyenv")
    assert frameworks.image_interpreter(frameworks.table()["1.2-1"]) is None


def test_on_3_10_the_default_is_offered_when_its_python_exists(
    here: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frameworks, "python_version", lambda: "3.10")
    monkeypatch.setattr(frameworks, "installed", lambda name: "1.7.2" if name == "scikit-learn" else "1.0")
    with pytest.raises(FrameworkError) as caught:
        frameworks.framework("1.9-0")
    message = str(caught.value)
    assert "use --framework-version 1.0-1 or 1.2-1 or 1.4-2 or 1.4-2-py312" in message
    assert "pyenv install 3.12" in message and "SMTRAIN_FRAMEWORK_PYTHON" in message
    assert here["built"] == []  # never a silently different environment

    here["found"]["3.12"] = PY312
    assert "1.9-0" in frameworks.installable_versions() and "1.0-1" in frameworks.installable_versions()
    environment = frameworks.environment_for("1.9-0", here["code"], never_run, lambda message: None)
    assert (environment.kind, environment.interpreter) == ("built", PY312)


def test_a_job_on_the_default_image_is_refused_before_it_exists_when_nothing_can_build_it(
    here: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from smtrain.backends.local.training.request_checks import _validate_framework_version

    monkeypatch.setattr(frameworks, "python_version", lambda: "3.10")
    with pytest.raises(ClientError, match=r"1\.9-0.*pyenv install 3\.12"):
        _validate_framework_version("smtrain-local/sklearn")  # no tag: the default, 1.9-0
    here["found"]["3.12"] = PY312
    _validate_framework_version("smtrain-local/sklearn")

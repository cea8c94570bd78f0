"""The framework table and how a job's environment is chosen (nothing is built here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smtrain.backends.local.environments import frameworks, pythons
from smtrain.backends.local.environments.frameworks import Framework, FrameworkError


@pytest.fixture(autouse=True)
def no_other_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's other Pythons are not looked for here (tests/unit/test_framework_pythons.py fakes them)."""
    monkeypatch.setattr(pythons, "find", lambda minor, environ=None: None)
    monkeypatch.delenv(pythons.EXACT_VARIABLE, raising=False)


def test_the_table_covers_every_version_of_the_sdk_image_map() -> None:
    listed = set(frameworks.sdk_versions("training")) | set(frameworks.sdk_versions("inference"))
    assert listed, "sagemaker-core's sklearn.json was not found"
    assert listed <= set(frameworks.table())


@pytest.mark.parametrize("version", sorted(frameworks.table()))
def test_each_entry_pins_scikit_learn_and_ships_the_toolkits(version: str) -> None:
    entry = frameworks.table()[version]
    assert entry.libraries["scikit-learn"].startswith("==")
    assert set(entry.libraries) == set(frameworks.LIBRARIES)
    assert "sagemaker-training" in entry.toolkits and "sagemaker-containers" in entry.toolkits
    assert entry.python in {"3.7", "3.8", "3.9", "3.10", "3.12"} and entry.wheel_pythons


def test_the_pins_read_from_the_container_repository() -> None:
    newest, old = frameworks.table()["1.9-0"], frameworks.table()["1.2-1"]
    assert (newest.pinned("scikit-learn"), newest.pinned("numpy"), newest.pinned("pandas")) == ("1.9.0", "2.5.1",
                                                                                                 "2.2.3")
    assert newest.pinned("sagemaker-training") == "4.8.0" and newest.pinned("sagemaker-inference") == "1.5.5"
    assert (old.pinned("scikit-learn"), old.pinned("scipy"), old.pinned("sagemaker-containers")) == (
        "1.2.1", "1.8.0", "2.8.6.post2")


@pytest.mark.parametrize(("image", "version"), [
    ("smtrain-local/sklearn", ""),
    ("smtrain-local/sklearn:1.2-1", "1.2-1"),
    ("smtrain-local/sklearn:current", "current"),
    ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3", "1.4-2"),
    ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3", "1.4-2-py312"),
])
def test_version_from_image(image: str, version: str) -> None:
    assert frameworks.version_from_image(image) == version


def test_a_version_without_wheels_for_this_python_names_the_ones_that_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(frameworks, "python_version", lambda: "3.11")
    with pytest.raises(FrameworkError) as caught:
        frameworks.framework("0.23-1")
    message = str(caught.value)
    assert "0.23-1" in message and "Python 3.11" in message
    assert "--framework-version 1.2-1 or 1.4-2 or 1.4-2-py312 or 1.9-0" in message and "'current'" in message


def test_an_unknown_version_lists_the_known_ones() -> None:
    with pytest.raises(FrameworkError, match=r"unknown scikit-learn framework version '9\.9-9'.*1\.9-0"):
        frameworks.framework("9.9-9")


def test_the_default_is_the_newest_version_with_both_images(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(frameworks.TEST_DEFAULT_VARIABLE, raising=False)
    assert frameworks.default_version() == "1.9-0"


@pytest.mark.parametrize(("here", "matches"), [("1.9.1", True), ("1.9.0", True), ("1.8.0", False), ("", False)])
def test_the_fast_path_needs_the_image_major_minor(monkeypatch: pytest.MonkeyPatch, here: str, matches: bool) -> None:
    monkeypatch.setattr(frameworks, "installed", lambda name: here if name == "scikit-learn" else "")
    assert frameworks.matches_here(frameworks.table()["1.9-0"]) is matches


def test_toolkit_imports_are_found_in_the_code(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import os\n")
    assert not frameworks.uses_toolkits(tmp_path)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "serve.py").write_text("from sagemaker_containers.beta.framework import worker\n")
    assert frameworks.uses_toolkits(tmp_path)


def never_run(command: Any, cwd: Path) -> int:
    raise AssertionError(f"nothing should be installed, not {command}")


def matched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Framework:
    entry = frameworks.table()["1.9-0"]
    monkeypatch.setattr(frameworks, "installed", lambda name: {"scikit-learn": "1.9.1"}.get(name, "1.0"))
    monkeypatch.setattr(frameworks, "python_version", lambda: "3.12")  # 1.9-0 installs here, on any Python
    monkeypatch.setenv(frameworks.CACHE_VARIABLE, str(tmp_path / "cache"))
    monkeypatch.delenv(frameworks.TEST_DEFAULT_VARIABLE, raising=False)
    return entry


def test_the_fast_path_builds_nothing_for_code_without_toolkits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    matched(monkeypatch, tmp_path)
    (tmp_path / "train.py").write_text("import sklearn\n")
    environment = frameworks.environment_for("1.9-0", tmp_path, never_run, lambda message: None)
    assert (environment.kind, environment.venv, environment.warning) == ("matched", None, "")
    assert not (tmp_path / "cache").exists()


def test_current_runs_here_and_warns_with_the_differences(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    matched(monkeypatch, tmp_path)
    environment = frameworks.environment_for("current", tmp_path, never_run, lambda message: None)
    assert (environment.kind, environment.venv) == ("current", None)
    assert "scikit-learn 1.9.1" in environment.warning and "scikit-learn ==1.9.0" in environment.warning


@pytest.mark.parametrize(("spec", "expected"), [
    ("==1.8.0", ["scipy==1.8.0", "scipy>=1.8,<1.9", "scipy>=1.8.0,<2", "scipy"]),
    (">=1.9.0", ["scipy>=1.9.0", "scipy"]),
    ("", ["scipy"]),
])
def test_pins_relax_to_the_nearest_minor_then_major(spec: str, expected: list[str]) -> None:
    assert frameworks._relaxations("scipy", spec) == expected


def test_the_record_keeps_what_ran_and_what_the_image_pins() -> None:
    environment = frameworks.Environment("1.2-1", "built", Path("/cache/sklearn-1.2-1"))
    entry = frameworks.record(environment, {"scikit-learn": "1.2.1", "pandas": "1.5.3"})
    assert entry["FrameworkVersion"] == "1.2-1" and entry["Environment"] == "built"
    assert entry["Libraries"] == {"scikit-learn": "1.2.1", "pandas": "1.5.3"}
    assert entry["ImagePins"]["pandas"] == "==1.1.3" and entry["ImagePython"] == "3.9"


def test_the_cache_key_does_not_depend_on_how_the_interpreter_is_spelt(monkeypatch: pytest.MonkeyPatch) -> None:
    key = frameworks._layer_key()
    monkeypatch.setattr(frameworks.sys, "executable", frameworks.sys.executable + "3")
    assert frameworks._layer_key() == key


def test_toolkits_that_cannot_install_leave_the_fast_path_running_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    matched(monkeypatch, tmp_path)
    monkeypatch.setattr(frameworks, "_available", lambda *requirements: True)
    (tmp_path / "train.py").write_text("from sagemaker_training import environment\n")
    commands = []

    def offline(command: Any, cwd: Path) -> int:
        commands.append(list(command))
        return 1

    environment = frameworks.environment_for("1.9-0", tmp_path, offline, lambda message: None)
    assert (environment.kind, environment.venv) == ("matched", None)
    assert "could not be installed" in environment.warning
    assert "sagemaker-training==4.8.0" not in commands[0]  # the first step installs what the toolkits import
    assert not list((tmp_path / "cache").iterdir())  # no half-built environment left behind


def test_on_python_3_10_the_default_names_what_to_install_and_the_versions_that_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(frameworks, "python_version", lambda: "3.10")
    monkeypatch.delenv(frameworks.TEST_DEFAULT_VARIABLE, raising=False)
    with pytest.raises(FrameworkError) as caught:
        frameworks.framework(frameworks.default_version())
    message = str(caught.value)
    assert "1.9-0" in message and "Python 3.10" in message
    assert "use --framework-version 1.0-1 or 1.2-1 or 1.4-2 or 1.4-2-py312" in message
    assert "conda create -n py312 python=3.12" in message and "pyenv install 3.12" in message

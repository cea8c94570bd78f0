"""The pure parts of a job's /opt/ml view: the setting, the path rewriting, the hint's room in FailureReason."""

from __future__ import annotations

import pytest

from smtrain.backends.local.jobs import enter_namespace, job_state
from smtrain.core.config import load_config
from smtrain.core.errors import UsageError

FOLDER = "/home/u/.smtrain/jobs/j1"


def test_the_setting_defaults_to_auto_and_takes_off(tmp_path) -> None:
    assert load_config(environ={}, cwd=tmp_path).job_namespace == "auto"
    assert load_config(environ={"SMTRAIN_JOB_NAMESPACE": "off"}, cwd=tmp_path).job_namespace == "off"


def test_an_unknown_mode_is_refused_naming_the_variable(tmp_path) -> None:
    with pytest.raises(UsageError, match="job_namespace must be one of auto, off, got 'on'") as error:
        load_config(environ={"SMTRAIN_JOB_NAMESPACE": "on"}, cwd=tmp_path)
    assert "SMTRAIN_JOB_NAMESPACE" in str(error.value.hint)


@pytest.mark.parametrize(("value", "expected"), [
    (f"{FOLDER}/model", "/opt/ml/model"),
    (FOLDER, "/opt/ml"),
    (f"{FOLDER}/code:{FOLDER}/code/lib:/usr/lib", "/opt/ml/code:/opt/ml/code/lib:/usr/lib"),
    (f'{{"model_dir":"{FOLDER}/model","hosts":["algo-1"]}}', '{"model_dir":"/opt/ml/model","hosts":["algo-1"]}'),
    (f"{FOLDER}2/model", f"{FOLDER}2/model"),  # another job whose name starts alike
    ("/elsewhere", "/elsewhere"),
])
def test_paths_in_the_job_folder_move_to_opt_ml(value: str, expected: str) -> None:
    assert enter_namespace.rewrite(value, FOLDER) == expected


def test_only_the_containers_variables_are_rewritten() -> None:
    env = {"SM_MODEL_DIR": f"{FOLDER}/model", "SAGEMAKER_BASE_DIR": FOLDER, "PYTHONPATH": f"{FOLDER}/code",
           "HOME": f"{FOLDER}/model", "SM_MODULE_DIR": "file:///store/j1/source/s1/sourcedir.tar.gz"}

    moved = enter_namespace.container_environment(env, [FOLDER])

    assert moved == {"SM_MODEL_DIR": "/opt/ml/model", "SAGEMAKER_BASE_DIR": "/opt/ml", "PYTHONPATH": "/opt/ml/code",
                     "HOME": f"{FOLDER}/model", "SM_MODULE_DIR": "file:///store/j1/source/s1/sourcedir.tar.gz"}
    assert enter_namespace.container_cwd(f"{FOLDER}/code", [FOLDER]) == "/opt/ml/code"
    assert enter_namespace.container_cwd("/tmp", [FOLDER]) == "/tmp"


def test_a_hint_fits_in_failure_reason_and_is_never_the_part_cut() -> None:
    tail = ["Traceback (most recent call last):", *(f'  File "train.py", line {i}' for i in range(200)),
            "FileNotFoundError: [Errno 2] No such file or directory: '/opt/ml/model/model.joblib'"]
    hint = "the script uses /opt/ml, which exists locally only in a job namespace " + "x" * 200

    text = job_state.user_error_reason("ExecuteUserScriptError", 1, tail, "python train.py", hint=hint)
    reason = job_state.failure_reason(text)

    assert len(reason) <= 1024
    assert reason.endswith(f'Command "python train.py"\nHint "{hint}"')
    assert "FileNotFoundError: [Errno 2] No such file or directory: '/opt/ml/model/model.joblib'" in reason
    assert job_state.user_error_reason("E", 1, ["boom"], "c") == 'E:\nExitCode 1\nErrorMessage "boom"\nCommand "c"'


def test_a_probe_handed_down_is_used_instead_of_probing_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from smtrain.backends.local.jobs import sandbox

    calls: list[str] = []
    monkeypatch.setattr(sandbox, "_probe", lambda: calls.append("probed") or sandbox.Namespace(False, "no userns"))
    monkeypatch.setenv(sandbox.PROBED_VARIABLE, "")  # so that the test's end restores it, whatever is set below
    monkeypatch.delenv(sandbox.PROBED_VARIABLE)
    sandbox.probe.cache_clear()
    sandbox.share_probe()
    assert calls == ["probed"]
    assert sandbox.os.environ[sandbox.PROBED_VARIABLE] == "0:no userns"
    sandbox.probe.cache_clear()  # a supervisor: a new process with the variable inherited
    assert sandbox.probe() == sandbox.Namespace(False, "no userns") and calls == ["probed"]
    monkeypatch.setenv(sandbox.PROBED_VARIABLE, "1")
    sandbox.probe.cache_clear()
    assert sandbox.probe() == sandbox.Namespace(True)
    sandbox.probe.cache_clear()

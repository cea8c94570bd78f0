"""Where progress goes: user paths in tracebacks, a short FailureReason, notebook output, the spinner."""

from __future__ import annotations

import io
import sys
import types

import pytest

from smtrain.execution.executor import QuietReporter, Reporter
from smtrain.execution.following import path_mapper, without_traceback


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_job_code_paths_map_back_to_the_source_dir() -> None:
    to_user = path_mapper(["/h/jobs/j/code/", "/opt/ml/code/"], "entry_points")
    assert to_user('  File "/h/jobs/j/code/p.py", line 3') == '  File "entry_points/p.py", line 3'
    assert to_user('  File "/opt/ml/code/p.py"') == '  File "entry_points/p.py"'
    assert path_mapper(["/h/jobs/j/code/"], ".")('File "/h/jobs/j/code/p.py"') == 'File "p.py"'
    assert path_mapper(["/h/"], None)("/h/x") == "/h/x"


def test_the_failure_reason_keeps_only_the_exception_line_of_its_traceback() -> None:
    reason = ('AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage "Traceback (most recent call last):\n'
              '  File "p.py", line 1, in <module>\nValueError: bad"\nCommand "python p.py"')
    assert without_traceback(reason) == ('AlgorithmError: ExecuteUserScriptError:\nExitCode 1\n'
                                         'ErrorMessage "ValueError: bad"\nCommand "python p.py"')
    plain = 'AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage ""\nCommand "python p.py"'
    assert without_traceback(plain) == plain


def test_in_a_notebook_progress_goes_to_stdout(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                ) -> None:
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    Reporter().info("Training - running p.py")
    captured = capsys.readouterr()
    assert captured.out == "Training - running p.py\n" and captured.err == ""


def test_off_a_notebook_progress_goes_to_stderr(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    Reporter().info("status")
    assert capsys.readouterr().err == "status\n"


def test_lines_print_above_a_running_spinner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = FakeTerminal()

    class OnTerminal(Reporter):
        def stream(self) -> FakeTerminal:
            return terminal

    reporter = OnTerminal()
    with reporter.waiting("training job j") as spinner:
        spinner.update("Training")
        reporter.log_line("epoch 1")
    out = terminal.getvalue()
    assert "epoch 1\n" in out and "training job j: Training (0:00)" in out
    # the line is whole, never split by the spinner's redraw
    assert all("epoch 1" not in line or line.endswith("epoch 1") for line in out.replace("\r", "\n").split("\n"))


def test_a_quiet_reporter_shows_no_spinner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = FakeTerminal()

    class QuietOnTerminal(QuietReporter):
        def stream(self) -> FakeTerminal:
            return terminal

    with QuietOnTerminal().waiting("training job j") as spinner:
        spinner.update("Training")
    assert terminal.getvalue() == ""

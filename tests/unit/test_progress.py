"""The wait spinner shows only on a terminal, and never with NO_COLOR or quiet."""

from __future__ import annotations

import io

import pytest

from smtrain.core.progress import spinner_wanted, waiting


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_spinner_off_a_terminal() -> None:
    stream = io.StringIO()
    with waiting("training job j1", stream=stream) as wait:
        wait.update("InProgress")
    assert stream.getvalue() == ""
    assert wait.text().startswith("training job j1: InProgress (0:0")


@pytest.mark.parametrize("quiet", [True, False])
def test_no_spinner_with_no_color_or_quiet(monkeypatch: pytest.MonkeyPatch, quiet: bool) -> None:
    if not quiet:
        monkeypatch.setenv("NO_COLOR", "1")
    assert not spinner_wanted(FakeTerminal(), quiet=quiet)


def test_spinner_on_a_terminal_shows_status_and_elapsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = FakeTerminal()
    with waiting("endpoint ep", stream=stream) as wait:
        wait.update("Creating")
    assert "endpoint ep: Creating (0:00)" in stream.getvalue()

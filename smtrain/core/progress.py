"""Signs of life during long waits: a spinner with the elapsed time and the current status.

Shown only on a terminal: off a terminal (a pipe, a notebook, CI), with
``NO_COLOR`` set, or when quiet (``smtrain --quiet``: see :func:`silenced`),
a wait shows nothing, so logs stay clean.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_silenced = [False]  # a one-process switch: the CLI's --quiet holds for the whole command


@contextmanager
def silenced() -> Iterator[None]:
    """No spinner and no progress bar anywhere in this process during the block."""
    previous, _silenced[0] = _silenced[0], True
    try:
        yield
    finally:
        _silenced[0] = previous


def spinner_wanted(stream: TextIO, *, quiet: bool = False) -> bool:
    """Whether live progress (a spinner, a bar) may be drawn on ``stream``."""
    return not (quiet or _silenced[0]) and "NO_COLOR" not in os.environ and stream.isatty()


class Waiting:
    """The handle a wait updates: ``waiting.update("Creating")``."""

    def __init__(self, what: str, status: Any = None, console: Any = None) -> None:
        self.what = what
        self.status = ""
        self.started = time.monotonic()
        self._live = status
        self.console = console  # the rich Console drawing the spinner; print through it to go above

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No spinner during the block (to write to another stream of the same terminal)."""
        if self._live is None:
            yield
            return
        self._live.stop()
        try:
            yield
        finally:
            self._live.start()

    def update(self, status: str) -> None:
        self.status = status
        self.refresh()

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self)

    def __rich__(self) -> str:
        return self.text()  # rich renders this on every refresh, so the elapsed time ticks

    def text(self) -> str:
        elapsed = int(time.monotonic() - self.started)
        minutes, seconds = divmod(elapsed, 60)
        shown = f"{self.what}: {self.status}" if self.status else self.what
        return f"{shown} ({minutes}:{seconds:02d})"


@contextmanager
def waiting(what: str, *, stream: TextIO | None = None, quiet: bool = False) -> Iterator[Waiting]:
    """A spinner on ``stream`` (stderr) for the duration of the block, when one is wanted."""
    stream = stream or sys.stderr
    if not spinner_wanted(stream, quiet=quiet):
        yield Waiting(what)
        return
    from rich.console import Console

    console = Console(file=stream, highlight=False)
    with console.status(what, spinner="dots", refresh_per_second=4) as status:
        handle = Waiting(what, status, console)
        handle.refresh()
        yield handle

"""Showing values that came from users or records: on a terminal, and in Markdown that GitHub renders.

Run names, hyperparameters, metric names, tags and source files are data, not
markup. On a terminal, a control character (an ESC starting an escape
sequence, a CR that rewrites a line) or an invisible one (a bidirectional
override) is shown the way ``repr`` shows it: ``\\x1b``, ``\\r``, ``\\u202e``.

In Markdown (pull-request comments), a value is one inline run of text:

- line breaks and other control characters are shown escaped, as on a
  terminal, so a value never starts a table row or a block;
- every character CommonMark or GitHub reads as markup (``\\ ` * _ [ ] < > | & ~ ! $``)
  is backslash-escaped: no emphasis, link, image, raw HTML (so no
  ``</details>``), entity, strikethrough, math or table cell comes from a value;
- ``@name`` and ``#123`` get a zero-width space after the sign, so a value
  mentions nobody and references no issue;
- code blocks use a fence longer than any run of backticks they hold, so
  nothing inside can close them.
"""

from __future__ import annotations

import re

# C0 and C1 controls (tab and newline included), zero-width and bidirectional formatting, line and paragraph
# separators, the byte-order mark: what a terminal or a renderer acts on, or what a reader cannot see.
_INVISIBLE = "\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
_UNSAFE = re.compile(f"[\x00-\x1f{_INVISIBLE}]")
_UNSAFE_IN_TEXT = re.compile(f"\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f{_INVISIBLE}]")  # keeps tab, LF and CRLF
_MARKUP = re.compile(r"([\\`*_\[\]<>|&~!$])")
_REFERENCE = re.compile(r"([@#])(?=\w)")
_ZERO_WIDTH_SPACE = "&#8203;"
_BACKTICKS = re.compile(r"`+")


def _shown(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


def printable(value: object) -> str:
    """One value for a terminal: control and invisible characters escaped, ``repr``-style."""
    return _UNSAFE.sub(_shown, str(value))


def printable_text(text: str) -> str:
    """Lines of text (a source diff) for a terminal: as :func:`printable`, keeping tabs and line ends (LF, CRLF)."""
    return _UNSAFE_IN_TEXT.sub(_shown, text)


def md(value: object) -> str:
    """One value as inline Markdown text: it renders as exactly these characters, on one line."""
    text = _MARKUP.sub(r"\\\1", printable(value))
    return _REFERENCE.sub(lambda m: m.group(1) + _ZERO_WIDTH_SPACE, text)


def md_code(value: object) -> str:
    """One value as an inline code span (outside tables): one line, delimited by more backticks than it holds."""
    text = printable(value)
    ticks = "`" * (1 + max((len(run) for run in _BACKTICKS.findall(text)), default=0))
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def md_fence(text: str, info: str = "") -> str:
    """A fenced code block holding ``text`` whole: its fence is longer than any backtick run inside."""
    ticks = "`" * max(3, 1 + max((len(run) for run in _BACKTICKS.findall(text)), default=0))
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{ticks}{info}\n{body}{ticks}"

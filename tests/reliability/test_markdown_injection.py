"""Reports are injection-proof: `report` and `diff --md`, rendered by a CommonMark parser, keep their structure.

Each hostile value goes into a run's name, a hyperparameter, a metric name, an environment value and a tag,
then the Markdown is parsed with markdown-it (CommonMark + GFM tables and strikethrough, raw HTML on, as
GitHub reads it) and its structure asserted: exactly the tables, rows, headings, folds and fence smtrain
wrote, no HTML, image or link token from a value, no emphasis a value made, no @mention, and every value
shown as the characters it holds (controls escaped, as on a terminal).
"""

from __future__ import annotations

import json
import re

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from smtrain.runs import compare, report
from smtrain.runs.escaping import printable
from smtrain.runs.query import parse_condition
from smtrain.runs.record import Run

HOSTILE = [
    "0.1\r| injected | row | x | y |",  # a CR starting a table row
    "0.1\n| injected | row | x | y |",
    "0.1\r\n\r\n# a heading\r\n\r\n- a list",
    "<img src=x onerror=alert(1)>",
    "</details><h1>owned</h1><details>",
    "![pixel](https://evil.example/p.png)",
    "[click me](https://evil.example/)",
    "@octocat please merge",
    "`one` ``` ```` ``",
    "**gate passed** ✅",
    "a\\|b\\\\|c",  # escaped pipes, and an escaped backslash before a pipe
    "<!-- hidden --> <https://evil.example>",
    "&lt;b&gt; &#64;octocat &amp;",
    "$\\huge{x}$ ~~struck~~ _em_",
    "org/repo#1 and #2",
    "\x1b[31mred\x1b[0m \x07",
    "\u202etxt.exe",
    "</summary></details>\n\n**done**",
]
IDS = [f"hostile-{i}" for i in range(len(HOSTILE))]
PARSER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
# what smtrain itself writes as HTML: the marker and the folds
OUR_HTML = re.compile(r"^(<!-- smtrain-report -->|<details><summary>[A-Za-z ()0-9]+</summary>|</details>)\n$")
OUR_STRONG = {"Completed", "metric", "hyperparameter", "environment", "source"}


def shown(value: str) -> str:
    """How a value reads once rendered: controls escaped, a zero-width space after the @ or # of a reference."""
    return re.sub(r"([@#])(?=\w)", "\\1\u200b", printable(value))


def run(name: str, value: str, metric: float, *, hostile: str) -> Run:
    return Run(name=name, backend="local", status="Completed",
               encoded_hyperparameters={"max_depth": "3", "label": json.dumps(value), hostile: json.dumps(value)},
               metrics={"accuracy": metric, hostile: metric},
               tags={"smtrain:git-branch": hostile, "smtrain:git-commit": "abc123", "team": hostile})


def pair(hostile: str) -> tuple[Run, Run, compare.Comparison]:
    base = run("base", "old", 0.8, hostile=hostile)
    candidate = run(hostile, hostile, 0.9, hostile=hostile)
    candidate.tags["smtrain:git-branch"] = "feature " + hostile
    source_a = {"train.py": b"x = 1\n```\n**gate passed** \xe2\x9c\x85\n</details>\n" + b"y = 1\n" * 3}
    source_b = {"train.py": source_a["train.py"] + b"z = 2\n" + hostile.encode() + b"\n``````````\n"}
    return base, candidate, compare.compare(base, candidate, (source_a, source_b))


def tokens(markdown: str) -> list[Token]:
    flat: list[Token] = []
    for token in PARSER.parse(markdown):
        flat.append(token)
        flat.extend(token.children or [])
    return flat


def table_rows(markdown: str) -> list[int]:
    """The number of body rows of each table, in order."""
    counts, inside = [], False
    for token in PARSER.parse(markdown):
        if token.type == "tbody_open":
            counts.append(0)
            inside = True
        elif token.type == "tbody_close":
            inside = False
        elif inside and token.type == "tr_open":
            counts[-1] += 1
    return counts


def cells(markdown: str) -> list[str]:
    """The text of every table cell (header cells too)."""
    found, stream = [], PARSER.parse(markdown)
    for i, token in enumerate(stream):
        if token.type in ("td_open", "th_open"):
            found.append("".join(c.content for c in stream[i + 1].children or []))
    return found


def assert_safe(markdown: str, *, folds: int, headings: int) -> list[Token]:
    flat = tokens(markdown)
    html = [t.content for t in flat if t.type == "html_block"]
    assert all(OUR_HTML.match(block) for block in html), html
    assert len(html) == (1 if markdown.startswith(report.MARKER) else 0) + 2 * folds  # every fold opened and closed
    assert [t.type for t in flat if t.type in ("html_inline", "image", "link_open", "s_open", "em_open")] == []
    assert [t.tag for t in flat if t.type == "heading_open"] == ["h2" if markdown.startswith(report.MARKER)
                                                                  else "h3"] * headings
    strong = [flat[i + 1].content for i, t in enumerate(flat) if t.type == "strong_open"]
    assert set(strong) <= OUR_STRONG, strong
    text = "".join(t.content for t in flat if t.type == "text")  # GitHub finds no mention inside code
    assert not re.search(r"[@#]\w", text), "a value mentions someone or references an issue"
    return flat


def assert_fence_holds_the_diff(flat: list[Token], diff: str) -> None:
    """One fence holds the whole diff (CommonMark reads a CR, as in CRLF files, as a line ending)."""
    (fence,) = [t for t in flat if t.type == "fence"]
    assert fence.info == "diff" and fence.content == diff.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_report_keeps_its_structure(hostile: str) -> None:
    _, candidate, comparison = pair(hostile)
    result = report.GateResult(parse_condition("accuracy>=0.85"), 0.9)
    text = report.render(candidate, comparison, result, note=f"note: {hostile}")

    flat = assert_safe(text, folds=3, headings=1)
    assert_fence_holds_the_diff(flat, comparison.source_diff)
    assert table_rows(text) == [2, len(comparison.hyperparameters), len(comparison.environment)]
    found = cells(text)
    assert shown(hostile) in found  # the metric name, as its characters
    assert found[:3] == ["metric", "base (baseline)", shown(hostile)]  # the candidate's name heads its column
    (heading,) = [flat[i + 1] for i, t in enumerate(flat) if t.type == "heading_open"]
    assert heading.content.startswith("smtrain: ") and "gate passed" in heading.content
    assert "".join(c.content for c in heading.children or []) == \
        f"smtrain: {shown(hostile)} vs base — gate passed ✅"


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_diff_markdown_keeps_its_structure(hostile: str) -> None:
    _, _, comparison = pair(hostile)
    text = compare.to_markdown(comparison)

    flat = assert_safe(text, folds=1, headings=1)
    assert_fence_holds_the_diff(flat, comparison.source_diff)
    changed_hps = sum(r.changed for r in comparison.hyperparameters)
    changed_env = sum(r.changed for r in comparison.environment)
    assert table_rows(text) == [2, changed_hps, changed_env]
    assert {shown(hostile), f"feature {shown(hostile)}"} <= set(cells(text))


def test_a_report_without_a_baseline_lists_hyperparameters_as_code() -> None:
    hostile = "`x` ```` </details> @octocat\r\n- item"
    lone = run(hostile, hostile, 0.9, hostile=hostile)
    text = report.render(lone, None, None, note=f"No baseline: {hostile}")
    flat = assert_safe(text, folds=1, headings=1)
    codes = [t.content for t in flat if t.type == "code_inline"]
    assert printable(hostile) in codes  # the value whole, in one code span
    assert table_rows(text) == [2]
    assert [t.type for t in flat if t.type == "blockquote_open"] == ["blockquote_open"]  # the note: one quote


def test_a_cut_diff_still_sits_in_one_fence() -> None:
    base, candidate, _ = pair("x")
    big = {"big.txt": b"```` a fence of four\n" * 5000}
    comparison = compare.compare(base, candidate, ({}, big))
    text = report.render(candidate, comparison, None)
    assert len(text) < report.LIMIT_CHARS
    flat = assert_safe(text, folds=3, headings=1)
    (fence,) = [t for t in flat if t.type == "fence"]
    assert fence.content.endswith("(cut to fit GitHub's comment limit; run `smtrain diff`)\n")
    assert comparison.source_diff.startswith(fence.content.split("\n... (cut")[0])

"""The one results table of bench/run.py: rows of figures, ratios, goals; Markdown and console rendering.

Pure code (no timing, no I/O) so tests/unit/test_bench_harness.py can check it on fake figures.
A figure is seconds (``unit="s"``) or a rate (``unit="req/s"``, ``"rows/s"``); the ratio is always
smtrain / peer, so below 1 is faster for times and above 1 is faster for throughput.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Goal:
    """``ratio_max``: ratio <= limit; ``ratio_min``: ratio >= limit; ``value_max``: smtrain's figure < limit."""

    kind: str
    limit: float

    def text(self, unit: str) -> str:
        if self.kind == "ratio_max":
            return f"<= {self.limit:.2f}x"
        if self.kind == "ratio_min":
            return f">= {self.limit:.2f}x"
        return f"< {format_value(self.limit, unit)}"

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        if self.kind == "value_max":
            return None if value is None else value < self.limit
        if ratio is None:
            return None
        return ratio <= self.limit if self.kind == "ratio_max" else ratio >= self.limit


@dataclass
class Row:
    bench: str
    figure: str
    value: float | None = None
    peer: str = ""
    peer_value: float | None = None
    unit: str = "s"
    goal: Goal | None = None
    note: str = ""
    skipped: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.peer_value:
            return None
        return self.value / self.peer_value

    @property
    def met(self) -> bool | None:
        if self.skipped or self.goal is None:
            return None
        return self.goal.met(self.value, self.ratio)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        goal = data.get("goal")
        return cls(**{**data, "goal": Goal(**goal) if goal else None})


def skipped(bench: str, figure: str, reason: str) -> Row:
    return Row(bench=bench, figure=figure, skipped=reason)


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.3f} s"
    return f"{value:,.0f} {unit}"


def verdict(row: Row) -> str:
    if row.skipped:
        return "skipped"
    met = row.met
    if met is None:
        return "-" if row.goal is None else "?"
    return "**met**" if met else "**NOT met**"


def cells(row: Row) -> list[str]:
    ratio = row.ratio
    goal = row.goal.text(row.unit) if row.goal else "-"
    if row.skipped:
        return [row.figure, "-", row.peer or "-", "-", goal, "skipped", row.skipped]
    peer = f"{row.peer}, {format_value(row.peer_value, row.unit)}" if row.peer else "-"
    return [row.figure, format_value(row.value, row.unit), peer, "-" if ratio is None else f"{ratio:.2f}x",
            goal, verdict(row), row.note]


HEADER = ["figure", "smtrain", "peer (same run)", "ratio", "goal", "goal met", "notes"]


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells(row)) + " |")
    return "\n".join(lines) + "\n"


def console(rows: list[Row]) -> str:
    """A plain fixed-width table for the terminal (notes on their own line)."""
    table = [HEADER[:6]] + [cells(row)[:6] for row in rows]
    widths = [max(len(line[i].replace("**", "")) for line in table) for i in range(6)]
    out = []
    for index, line in enumerate(table):
        out.append("  ".join(cell.replace("**", "").ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
        elif (note := cells(rows[index - 1])[6]):
            out.append(f"    {note}")
    return "\n".join(out) + "\n"

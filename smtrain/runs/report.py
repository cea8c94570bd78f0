"""`smtrain report`: a run against a baseline, as Markdown for a pull request, with an optional gate.

GitHub refuses comments over 65,536 characters: the report keeps the
metrics, the gate and the links in view and folds the rest in ``<details>``,
cutting the source diff first when it must. It uploads nothing anywhere; CI
posts the text itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from smtrain.core.metric_values import NOT_FINITE
from smtrain.runs.compare import Comparison, format_delta, format_value, markdown_table
from smtrain.runs.query import Condition
from smtrain.runs.record import Run

MARKER = "<!-- smtrain-report -->"
LIMIT_CHARS = 60_000  # under GitHub's 65,536, with room for what CI adds


@dataclass(frozen=True)
class GateResult:
    condition: Condition
    value: float | None

    @property
    def passed(self) -> bool:
        """Fails closed: a missing metric, NaN or an infinity never passes."""
        return self.value is not None and self.condition.holds_value(self.value)

    def __str__(self) -> str:
        shown = "missing" if self.value is None else f"{self.value:g}"
        if self.value is not None and not math.isfinite(self.value):
            shown += f", {NOT_FINITE}: the gate fails closed"
        return f"{'passed' if self.passed else 'FAILED'}: {self.condition} (this run: {shown})"


def gate(run: Run, condition: Condition | None) -> GateResult | None:
    return None if condition is None else GateResult(condition, run.metrics.get(condition.name))


def links(run: Run) -> list[str]:
    if run.backend != "sagemaker" or not run.region:
        return []
    console = f"https://{run.region}.console.aws.amazon.com"
    return [f"[training job]({console}/sagemaker/home?region={run.region}#/jobs/{run.name})",
            f"[logs]({console}/cloudwatch/home?region={run.region}#logsV2:log-groups/log-group/"
            f"$252Faws$252Fsagemaker$252FTrainingJobs$3FlogStreamNameFilter$3D{run.name}$252F)"]


def render(run: Run, comparison: Comparison | None, result: GateResult | None, note: str = "") -> str:
    status = "" if result is None else (" — gate passed ✅" if result.passed else " — gate FAILED ❌")
    baseline = f" vs {comparison.a.name}" if comparison else ""
    head = [MARKER, f"## smtrain: {run.name}{baseline}{status}", ""]
    head.append(f"**{run.status}** on {run.backend} · commit `{run.git_commit[:12] or 'unknown'}`"
                + (" (dirty)" if run.git_dirty else "") + "".join(f" · {link}" for link in links(run)))
    if note:
        head += ["", f"> {note}"]
    if result is not None:
        head += ["", f"Gate {result}"]
    head += ["", _metrics(run, comparison)]
    folded = _folded(run, comparison)
    text = "\n".join(head) + "\n" + folded
    if len(text) > LIMIT_CHARS:
        text = "\n".join(head) + "\n" + _folded(run, comparison, diff_budget=LIMIT_CHARS - len("\n".join(head)) - 4000)
    return text


def _metrics(run: Run, comparison: Comparison | None) -> str:
    if comparison is None:
        lines = ["| metric | this run |", "|---|---|"]
        lines += [f"| {name} | {value:g} |" for name, value in run.metrics.items()]
        return "\n".join(lines) + "\n" if run.metrics else "No metrics recorded.\n"
    a, b = comparison.a.name, comparison.b.name
    lines = [f"| metric | {a} (baseline) | {b} | delta | |", "|---|---|---|---|---|"]
    for row in comparison.metrics:
        arrow = "" if row.delta is None else ("▲" if row.delta > 0 else "▼" if row.delta < 0 else "=")
        lines.append(f"| {row.name} | {format_value(row.a)} | {format_value(row.b)} | {format_delta(row)} | {arrow} |")
    return "\n".join(lines) + "\n"


def _folded(run: Run, comparison: Comparison | None, diff_budget: int | None = None) -> str:
    parts = []
    if comparison is not None:
        changed = sum(r.changed for r in comparison.hyperparameters)
        parts.append(_details(f"Hyperparameters ({changed} changed)", markdown_table(
            "hyperparameter", comparison.hyperparameters, comparison.a.name, comparison.b.name)))
        parts.append(_details("Environment", markdown_table(
            "environment", comparison.environment, comparison.a.name, comparison.b.name)))
        diff = comparison.source_diff
        if diff_budget is not None and len(diff) > diff_budget:
            diff = diff[:max(0, diff_budget)] + "\n... (cut to fit GitHub's comment limit; run `smtrain diff`)\n"
        parts.append(_details("Source diff", f"```diff\n{diff}```" if diff else "identical"))
    else:
        parts.append(_details("Hyperparameters", "\n".join(f"- `{k}` = `{format_value(v)}`"
                                                            for k, v in run.hyperparameters.items()) or "none"))
    return "\n".join(parts)


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n</details>\n"

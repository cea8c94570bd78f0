"""Comparing runs: hyperparameter and metric deltas, environment, and the diff of their source archives.

Source archives are read in memory, regular files only, within limits; they
are never extracted here (``checkout`` extracts, with the safe extractor).
"""

from __future__ import annotations

import difflib
import io
import math
import tarfile
from dataclasses import dataclass, field
from typing import Any

from smtrain.core.errors import UsageError
from smtrain.core.metric_values import jsonable, shown
from smtrain.runs.record import Run

MAX_ARCHIVE_BYTES = 100 * 1024 * 1024
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_FILES = 2000
ENVIRONMENT_TAGS = ("smtrain:git-commit", "smtrain:git-dirty", "smtrain:git-branch", "smtrain:version",
                    "smtrain:python")


@dataclass
class Row:
    name: str
    a: Any
    b: Any

    @property
    def changed(self) -> bool:
        return self.a != self.b and not (_is_nan(self.a) and _is_nan(self.b))

    @property
    def delta(self) -> float | None:
        if isinstance(self.a, int | float) and isinstance(self.b, int | float) and not isinstance(self.a, bool):
            delta = float(self.b) - float(self.a)
            return delta if math.isfinite(delta) else None  # nan or inf on either side: no delta
        return None


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


@dataclass
class Comparison:
    a: Run
    b: Run
    hyperparameters: list[Row] = field(default_factory=list)
    metrics: list[Row] = field(default_factory=list)
    environment: list[Row] = field(default_factory=list)
    source_diff: str = ""

    def to_json(self) -> dict[str, Any]:
        def rows(items: list[Row]) -> list[dict[str, Any]]:
            return [{"name": r.name, "a": jsonable(r.a), "b": jsonable(r.b), "delta": r.delta, "changed": r.changed,
                     **_texts(r)} for r in items]

        return {"a": self.a.name, "b": self.b.name, "hyperparameters": rows(self.hyperparameters),
                "metrics": rows(self.metrics), "environment": rows(self.environment), "source_diff": self.source_diff}


def _texts(row: Row) -> dict[str, str]:
    """``a_text``/``b_text`` for a side that is NaN or infinite (null in the JSON)."""
    return {f"{side}_text": shown(value) for side, value in (("a", row.a), ("b", row.b))
            if isinstance(value, float) and not math.isfinite(value)}


def environment_of(run: Run) -> dict[str, Any]:
    env: dict[str, Any] = {key.removeprefix("smtrain:"): run.tags[key] for key in ENVIRONMENT_TAGS if key in run.tags}
    env.update({f"job {name}": version for name, version in sorted(run.versions.items())})
    env.update(image=run.image, instance=run.instance_type, backend=run.backend)
    return env


def rows(a: dict[str, Any], b: dict[str, Any]) -> list[Row]:
    return [Row(key, a.get(key), b.get(key)) for key in sorted(set(a) | set(b))]


def compare(a: Run, b: Run, sources: tuple[dict[str, bytes], dict[str, bytes]] | None = None) -> Comparison:
    """``b`` against ``a`` (deltas are b - a)."""
    return Comparison(
        a, b,
        hyperparameters=rows(a.hyperparameters, b.hyperparameters),
        metrics=rows(a.metrics, b.metrics),
        environment=rows(environment_of(a), environment_of(b)),
        source_diff=unified_diff(*sources, a.name, b.name) if sources else "",
    )


def read_archive(data: bytes, where: str) -> dict[str, bytes]:
    """The regular files of a (gzipped) tar held in memory, by path."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise UsageError(f"source archive is larger than {MAX_ARCHIVE_BYTES} bytes", where=where,
                         hint="use `smtrain checkout` and compare the folders")
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar:
                if len(files) >= MAX_FILES:
                    break
                if not member.isfile() or member.size > MAX_FILE_BYTES:
                    continue
                extracted = tar.extractfile(member)
                if extracted is not None:
                    files[member.name.removeprefix("./")] = extracted.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UsageError(f"cannot read the source archive: {exc}", where=where,
                         hint="the run's source archive is damaged or not a tar.gz") from exc
    return files


def unified_diff(a: dict[str, bytes], b: dict[str, bytes], a_name: str, b_name: str) -> str:
    parts = []
    for path in sorted(set(a) | set(b)):
        old, new = a.get(path), b.get(path)
        if old == new:
            continue
        old_text, new_text = _text(old), _text(new)
        if old_text is None or new_text is None:
            parts.append(f"Binary file {path} differs\n")
            continue
        parts.extend(difflib.unified_diff(
            old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
            fromfile=f"{a_name}/{path}" if old is not None else "/dev/null",
            tofile=f"{b_name}/{path}" if new is not None else "/dev/null"))
        if parts and not parts[-1].endswith("\n"):
            parts[-1] += "\n\\ No newline at end of file\n"
    return "".join(parts)


def _text(data: bytes | None) -> str | None:
    if data is None:
        return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_delta(row: Row) -> str:
    delta = row.delta
    if delta is None or not row.changed:
        return ""
    return f"{delta:+.4g}"


def markdown_table(title: str, items: list[Row], a: str, b: str, *, only_changed: bool = False,
                   with_delta: bool = False) -> str:
    shown = [r for r in items if r.changed] if only_changed else items
    if not shown:
        return f"**{title}**: no differences\n"
    header = f"| {title} | {a} | {b} |" + (" delta |" if with_delta else "")
    lines = [header, "|---|---|---|" + ("---|" if with_delta else "")]
    for row in shown:
        cells = [row.name, format_value(row.a), format_value(row.b)] + ([format_delta(row)] if with_delta else [])
        lines.append("| " + " | ".join(_escape(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(comparison: Comparison) -> str:
    a, b = comparison.a.name, comparison.b.name
    parts = [f"### {b} vs {a}\n",
             markdown_table("metric", comparison.metrics, a, b, with_delta=True),
             markdown_table("hyperparameter", comparison.hyperparameters, a, b, only_changed=True),
             markdown_table("environment", comparison.environment, a, b, only_changed=True)]
    if comparison.source_diff:
        parts.append(f"<details><summary>source diff</summary>\n\n```diff\n{comparison.source_diff}```\n</details>\n")
    else:
        parts.append("**source**: identical\n")
    return "\n".join(parts)


def to_text(comparison: Comparison) -> str:
    a, b = comparison.a.name, comparison.b.name
    lines = [f"{b} vs {a}"]
    for title, items, changed_only in (("metrics", comparison.metrics, False),
                                       ("hyperparameters", comparison.hyperparameters, True),
                                       ("environment", comparison.environment, True)):
        shown = [r for r in items if r.changed] if changed_only else items
        lines.append(f"\n{title}:" + ("" if shown else " no differences"))
        for row in shown:
            delta = f" ({format_delta(row)})" if format_delta(row) else ""
            lines.append(f"  {row.name}: {format_value(row.a)} -> {format_value(row.b)}{delta}")
    lines.append("\nsource:" + ("\n" + comparison.source_diff.rstrip("\n") if comparison.source_diff else " identical"))
    return "\n".join(lines) + "\n"

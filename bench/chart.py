"""Draws bench/run.py's rows (JSON on stdin) as a PNG: one bar per row, its ratio smtrain / peer, and
the goal as a mark. Run by bench/run.py with an interpreter that has matplotlib.

    python bench/chart.py OUT.png < rows.json
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    rows = [row for row in json.load(sys.stdin) if not row["skipped"] and row["value"] and row["peer_value"]]
    labels = [f"{row['figure']}  [vs {row['peer']}]".replace("`", "") for row in rows]
    ratios = [row["value"] / row["peer_value"] for row in rows]
    figure, axes = plt.subplots(figsize=(11, 0.42 * len(rows) + 1.5))
    positions = list(range(len(rows)))[::-1]
    colours = ["tab:blue" if row["unit"] == "s" else "tab:green" for row in rows]
    axes.barh(positions, ratios, color=colours)
    for position, row, ratio in zip(positions, rows, ratios, strict=True):
        axes.text(ratio, position, f" {ratio:.2f}x", va="center", fontsize=8)
        goal = row.get("goal")
        if goal and goal["kind"] != "value_max":
            axes.plot([goal["limit"]] * 2, [position - 0.4, position + 0.4], color="red", linewidth=2)
    axes.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
    axes.set_yticks(positions, labels, fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("smtrain / peer (log scale; blue: time, lower is faster; green: req/s, higher is faster; "
                    "red: goal)", fontsize=8)
    figure.tight_layout()
    figure.savefig(sys.argv[1], dpi=110)


if __name__ == "__main__":
    main()

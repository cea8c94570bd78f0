"""The README's one-line-per-folder table names every package of smtrain, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def readme_folders() -> set[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return {m.group(1).rstrip("/") for m in re.finditer(r"^\| `(smtrain/[\w/]*)` \|", text, re.M)}


def package_folders() -> set[str]:
    return {
        str(init.parent.relative_to(REPO))
        for init in (REPO / "smtrain").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def test_readme_table_matches_the_packages() -> None:
    assert readme_folders() == package_folders()


def test_no_module_sits_flat_at_the_top_but_the_entry_points() -> None:
    flat = {p.name for p in (REPO / "smtrain").glob("*.py")}
    assert flat == {"__init__.py", "entry.py"}

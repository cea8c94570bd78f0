"""A Mermaid flowchart of a state machine definition (for the README, or any Markdown)."""

from __future__ import annotations

from typing import Any

SHAPES = {"Task": '["{}"]', "Choice": '{{"{}"}}', "Pass": '("{}")', "Wait": '[/"{}"/]',
          "Succeed": '(["{}"])', "Fail": '(["{}"])'}


def flowchart(definition: dict[str, Any]) -> str:
    states = definition["States"]
    ids = {name: f"s{index}" for index, name in enumerate(states)}
    lines = ["flowchart TD", f"    start((start)) --> {ids[definition['StartAt']]}"]
    for name, state in states.items():
        lines.append(f"    {ids[name]}{SHAPES[state['Type']].format(name)}")
    for name, state in states.items():
        lines += [f"    {ids[name]} {arrow} {ids[target]}" for arrow, target in edges(state)]
    return "\n".join(lines) + "\n"


def edges(state: dict[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for rule in state.get("Choices", []):
        found.append(("-->", rule["Next"]))
    if "Default" in state:
        found.append(("-->|otherwise|", state["Default"]))
    if "Next" in state:
        found.append(("-->", state["Next"]))
    for catcher in state.get("Catch", []):
        found.append(("-.->|error|", catcher["Next"]))
    unique: list[tuple[str, str]] = []
    for edge in found:
        if edge not in unique:
            unique.append(edge)
    return unique


def markdown(definition: dict[str, Any]) -> str:
    return f"```mermaid\n{flowchart(definition)}```\n"

"""What the figures were measured on: cores, CPU model, RAM, OS, Python, package versions, load."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

SMTRAIN_PACKAGES = ("smtrain", "boto3", "botocore", "sagemaker-core", "scikit-learn", "pandas", "gunicorn", "moto")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def versions(python: Path | str, packages: tuple[str, ...]) -> str:
    code = ("import sys\nfrom importlib.metadata import version, PackageNotFoundError\nout = []\n"
            "for p in sys.argv[1:]:\n    try: out.append(f'{p} {version(p)}')\n"
            "    except PackageNotFoundError: pass\nprint(', '.join(out))")
    try:
        done = subprocess.run([str(python), "-c", code, *packages], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    return done.stdout.strip()


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def describe(python: str) -> list[str]:
    return [
        f"cores: {os.cpu_count()} ({cpu_model()}), RAM {ram_gib()}",
        f"OS: {platform.platform()}",
        f"Python: {platform.python_version()} ({python})",
        f"smtrain venv: {versions(python, SMTRAIN_PACKAGES)}",
    ]

"""Helpers shared by several test tiers: bounded condition waits, Ctrl-C to a CLI, git projects, cleanup,
moto resets, a pure-Python wheel."""

from __future__ import annotations

import base64
import hashlib
import signal
import subprocess
import time
import urllib.request
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtrain.backends.local.service import LocalSageMaker


def reset_moto(url: str) -> None:
    """Empty the moto server at ``url``: moto's state is the whole process's, so every server in it shares it."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", data=b"", method="POST"), timeout=30).close()


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds passed; whether it became true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def interrupt_when(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], ready: Callable[[], object],
                   timeout: float = 60.0) -> tuple[int, str]:
    """Run a command, send it SIGINT (what the terminal sends on Ctrl-C) once ``ready()``; its exit code
    and stderr. Fails if it ended, or ``timeout`` passed, before it was ready. Nothing is left running."""
    process = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=default_sigint)
    try:
        was_ready = wait_until(lambda: process.poll() is not None or ready(), timeout) and bool(ready())
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert was_ready, f"{' '.join(argv[:2])} ended, or {timeout:g} s passed, before it could be interrupted: {err}"
    return process.returncode, err


def default_sigint() -> None:
    """In the child: Ctrl-C raises KeyboardInterrupt even when the tests run in a background job,
    whose processes start with SIGINT ignored (Python then installs no handler of its own)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def git(folder: Path, *args: str) -> str:
    """Run git in ``folder`` with a throwaway identity; its output."""
    return subprocess.run(["git", "-C", str(folder), "-c", "user.email=t@t", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True, timeout=30).stdout.strip()


def git_project(root: Path, script: str) -> Path:
    """A committed project: ``src/train.py`` (``script``), ``data/train.csv`` and an empty ``smtrain.toml``."""
    (root / "src").mkdir(parents=True)
    (root / "src" / "train.py").write_text(script)
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("a,b\n1,2\n")
    (root / "smtrain.toml").write_text("")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def remove_local_endpoints(sm: LocalSageMaker) -> None:
    """Delete every endpoint of a local service, and stop any server process group a failed test left behind."""
    from smtrain.backends.local.jobs.processes import stop_group

    for endpoint in sm.db.list("endpoint"):
        groups = [d["pid"] for d in (endpoint["_local"].get("current"), endpoint["_local"].get("pending")) if d]
        sm.delete_endpoint(EndpointName=endpoint["EndpointName"])
        for pgid in groups:
            stop_group(pgid)
    gateway = sm.db.get("runtime", "gateway")
    if gateway and gateway["_local"].get("pid"):
        stop_group(gateway["_local"]["pid"])


def create_folder_model(sm: LocalSageMaker, name: str, model_dir: Path, code_dir: Path, program: str) -> None:
    """A local model served from a model folder and a code folder (one worker), and its endpoint config."""
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::000000000000:role/x", PrimaryContainer={
        "Image": "smtrain-local/sklearn", "ModelDataUrl": model_dir.as_uri(),
        "Environment": {"SAGEMAKER_PROGRAM": program, "SAGEMAKER_SUBMIT_DIRECTORY": code_dir.as_uri(),
                        "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "local"}])


def build_wheel(directory: Path, name: str = "smtrain_probe_pkg", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel, written by hand so the test needs no network and no build tools."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 42\ndef main():\n    print('probe script ok')\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": f"[console_scripts]\nsmtrain-probe = {name}:main\n".encode(),
    }
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

"""Framework-matched environments: a local job sees the libraries of its scikit-learn image.

``frameworks.json`` (next to this module) holds what each image pins (scikit-learn,
numpy, pandas, scipy, joblib, the toolkits ``sagemaker_training``,
``sagemaker_containers``, ``sagemaker_inference`` and what they import),
read from aws/sagemaker-scikit-learn-container. A job's environment is one of:

- ``matched`` (the fast path): this interpreter already has the image's
  scikit-learn major.minor, so nothing is built. When the code imports one of
  the image's toolkits, a small overlay holding only the toolkits (and the
  image's pins of what they import) is layered on top, built once.
- ``built``: an environment with the image's pins (or, where a pin has no wheel
  for its Python, the nearest release of the same minor, then major, that
  installs). When the image's Python minor version is not this one and the
  machine has it (see ``pythons``), the environment is a venv of that Python
  with smtrain's serving runtime and a link to smtrain's own (pure-Python)
  package; otherwise it is layered on this interpreter so smtrain itself stays
  importable. ``$SMTRAIN_FRAMEWORK_EXACT_PYTHON=1`` builds with the image's
  Python even where the fast path would do.
- ``current``: ``--framework-version current``; this interpreter as is.

Environments live in ``$SMTRAIN_FRAMEWORK_CACHE``, else
``$XDG_CACHE_HOME/smtrain/frameworks`` (``~/.cache``): they are large, the same
for every project, and cost minutes to build, so one machine-wide cache (not
each project's store) keeps them. The key is the framework version, the
Python version and a hash of the interpreter they are layered on. Each is
built in a temporary directory and renamed into place (see ``venvs``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from smtrain.backends.local.environments import pythons
from smtrain.backends.local.environments.pythons import Interpreter
from smtrain.backends.local.environments.venvs import (
    COMPLETE_MARKER,
    InstallFailed,
    Runner,
    build_once,
    layer_dirs,
    site_packages,
    venv_key,
    venv_python,
)

CURRENT = "current"
LIBRARIES = ("scikit-learn", "numpy", "pandas", "scipy", "joblib")
TOOLKITS = ("sagemaker-training", "sagemaker-containers", "sagemaker-inference")
TOOLKIT_MODULES = re.compile(rb"\b(sagemaker_training|sagemaker_containers|sagemaker_inference)\b")
# Compiled libraries come as wheels only: a source build of an old scikit-learn takes long and fails late.
BINARY_ONLY = ",".join(LIBRARIES[:4])
CACHE_VARIABLE = "SMTRAIN_FRAMEWORK_CACHE"
# For smtrain's own test suite on Python 3.10 only (.ci/run): the local default when a request names none.
# The newest image's scikit-learn (1.9-0) has no wheel for 3.10, so that suite runs with scikit-learn 1.4.2
# installed and this set to 1.4-2: the fast path, and no environment is built. Not an SMTRAIN_ name, so
# the tests' clean environments (which drop every SMTRAIN_ variable) keep it.
TEST_DEFAULT_VARIABLE = "TEST_SMTRAIN_FRAMEWORK_VERSION"
MAX_SCANNED_FILES = 2000
# smtrain's own serving layer runs inside the job's environment (serving/container.py restarts itself there),
# so another Python must be one smtrain runs on: pyproject's requires-python.
OLDEST_OWN_PYTHON = (3, 10)
# What that layer imports beyond the image's libraries (smtrain's own requirement specs are used).
SERVING_RUNTIME = ("gunicorn", "tornado", "psutil")
# What ``sagemaker_containers.beta.framework`` imports that the image has and a layered environment sees in
# this interpreter's site-packages (boto3 is smtrain's own); a venv of another Python needs them installed.
TOOLKIT_IMPORTS = ("boto3", "paramiko")


class FrameworkError(Exception):
    """The framework version cannot run here; the message names what can."""


@dataclass(frozen=True)
class Framework:
    version: str
    python: str
    wheel_pythons: tuple[str, ...]
    libraries: Mapping[str, str]
    toolkits: Mapping[str, str]
    toolkit_dependencies: Mapping[str, str]
    source: str

    def pinned(self, name: str) -> str:
        """The image's exact version of ``name``, or "" when it pins none."""
        spec = self.libraries.get(name) or self.toolkits.get(name) or ""
        return spec[2:] if spec.startswith("==") and "*" not in spec else ""


@dataclass(frozen=True)
class Environment:
    """Where a job runs: ``venv`` (None: this interpreter) and how it was chosen."""

    framework_version: str
    kind: str  # "matched", "built" or "current"
    venv: Path | None = None
    warning: str = ""
    interpreter: Interpreter | None = None  # the image's Python, when the venv is one of another Python

    @property
    def python(self) -> str:
        return str(venv_python(self.venv)) if self.venv else sys.executable

    @property
    def base_python(self) -> str:
        """The interpreter the venv was made with (what a ``requirements.txt`` venv on top is made with)."""
        return self.interpreter.executable if self.interpreter else sys.executable


@cache
def table() -> dict[str, Framework]:
    raw = json.loads(resources.files(__package__ or "smtrain.backends.local").joinpath("frameworks.json").read_text())
    return {
        version: Framework(version, entry["python"], tuple(entry["wheel_pythons"]), entry["libraries"],
                           entry["toolkits"], entry["toolkit_dependencies"], entry["source"])
        for version, entry in raw["versions"].items()
    }


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def installable_versions(python: str | None = None) -> list[str]:
    """The versions that can run here: on ``python`` (this one), or built with the image's own Python."""
    here = python is None or python == python_version()
    python = python or python_version()
    return [v for v, f in table().items() if python in f.wheel_pythons or (here and image_interpreter(f))]


def can_use_image_python(found: Framework) -> bool:
    """Whether smtrain runs on the image's Python (its serving layer runs in the environment)."""
    return tuple(int(p) for p in found.python.split(".")) >= OLDEST_OWN_PYTHON


def image_interpreter(found: Framework) -> Interpreter | None:
    """The image's own Python, when it is not this one, smtrain runs on it, and the machine has it."""
    if found.python == python_version() or not can_use_image_python(found):
        return None
    return pythons.find(found.python)


def framework(version: str) -> Framework:
    """The table's entry for ``version``; a clear error when it is unknown or cannot install here."""
    found = table().get(version)
    if found is None:
        raise FrameworkError(f"unknown scikit-learn framework version {version!r}; known: {', '.join(table())}, "
                             f"or {CURRENT!r} for this environment as is")
    if python_version() not in found.wheel_pythons and image_interpreter(found) is None:
        if can_use_image_python(found):
            fix = (f"or {pythons.install_hint(found.python)}: the environment is then built with it (looked in "
                   f"{pythons.where_looked(found.python)})")
        else:
            fix = (f"or install smtrain under Python {found.python}, the image's own (e.g. `conda create -n "
                   f"py{found.python.replace('.', '')} python={found.python}` or `pyenv install {found.python}`), "
                   "and run it from there")
        raise FrameworkError(
            f"scikit-learn framework version {version} (scikit-learn {found.pinned('scikit-learn')}) cannot be "
            f"installed on Python {python_version()} (it has wheels for Python {', '.join(found.wheel_pythons)}; "
            f"the image runs Python {found.python}); on this Python use --framework-version "
            f"{' or '.join(installable_versions()) or CURRENT}, or {CURRENT!r}; {fix}")
    return found


def version_from_image(image: str) -> str:
    """``smtrain-local/sklearn:1.2-1`` or ``...sagemaker-scikit-learn:1.2-1-cpu-py3`` -> ``1.2-1``;
    "" when the image names no version."""
    tail = image.rsplit("/", 1)[-1]
    if ":" not in tail:
        return ""
    tag = tail.split(":", 1)[1]
    return re.sub(r"-cpu-py3$|-cpu$", "", tag)


@cache
def sdk_versions(scope: str) -> tuple[str, ...]:
    """The scikit-learn versions of the SDK's image map (sagemaker-core's ``sklearn.json``) for
    ``scope``, read as data: importing ``sagemaker.core`` takes seconds."""
    from smtrain.aws.images import SDK_DISTRIBUTION, version_key

    files = [f for f in metadata.files(SDK_DISTRIBUTION) or [] if str(f).endswith("image_uri_config/sklearn.json")]
    if not files:
        return ()
    config = json.loads(Path(str(files[0].locate())).read_text())
    return tuple(sorted(config.get(scope, {}).get("versions", {}), key=version_key))


def default_version() -> str:
    """The newest version with a training and an inference image, as on the SageMaker backend."""
    from smtrain.aws.images import version_key

    if os.environ.get(TEST_DEFAULT_VARIABLE) in table():
        return os.environ[TEST_DEFAULT_VARIABLE]

    both = set(sdk_versions("training")) & set(sdk_versions("inference")) & set(table())
    return max(both or table(), key=version_key)


def installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def matches_here(found: Framework) -> bool:
    """Whether this interpreter's scikit-learn has the image's major.minor (the fast path)."""
    here = installed("scikit-learn")
    return bool(here) and major_minor(here) == major_minor(found.pinned("scikit-learn"))


def uses_toolkits(code_dir: Path) -> bool:
    """Whether the code mentions one of the image's own modules (then they must be importable)."""
    for count, path in enumerate(code_dir.rglob("*.py")):
        if count >= MAX_SCANNED_FILES:
            return True
        try:
            if TOOLKIT_MODULES.search(path.read_bytes()):
                return True
        except OSError:
            continue
    return False


def cache_dir() -> Path:
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smtrain" / "frameworks"


def current_warning(reference: Framework | None) -> str:
    here = ", ".join(f"{name} {installed(name) or 'missing'}" for name in LIBRARIES)
    if reference is None:
        return f"framework version 'current': running with this environment's {here}"
    image = ", ".join(f"{name} {reference.libraries.get(name) or '(unpinned)'}" for name in LIBRARIES)
    return (f"framework version 'current': running with this environment's {here}; "
            f"the {reference.version} image has {image}")


def environment_for(version: str, code_dir: Path, run: Runner, say: Any = print) -> Environment:
    """The environment a job with framework ``version`` runs in, built if needed."""
    if version == CURRENT:
        newest = table().get(default_version())
        return Environment(CURRENT, "current", None, current_warning(newest))
    found = framework(version)
    exact = pythons.exact_requested()
    fast = matches_here(found)
    other = image_interpreter(found) if exact or not fast else None  # the fast path looks for no other Python
    if exact and other is None and found.python != python_version():
        raise FrameworkError(
            f"{pythons.EXACT_VARIABLE} asks for the {version} image's Python {found.python}, and none was found "
            f"(looked in {pythons.where_looked(found.python)}); "
            + (pythons.install_hint(found.python) if can_use_image_python(found)
               else f"smtrain cannot serve on Python {found.python}; unset {pythons.EXACT_VARIABLE}"))
    if fast and not (exact and other):
        overlay = _overlay_path(found)
        if (overlay / COMPLETE_MARKER).is_file():
            return Environment(version, "matched", overlay)
        if not uses_toolkits(code_dir):
            return Environment(version, "matched")
        say(f"Layering the {version} image's toolkits ({', '.join(found.toolkits)}) on this environment "
            f"(built once into {cache_dir()})")
        try:
            return Environment(version, "matched", _build(found, overlay, run, with_libraries=False))
        except InstallFailed as exc:  # offline, say: the script may not need them after all
            return Environment(version, "matched", None, f"the image's toolkits could not be installed ({exc}); "
                               "running without them")
    if other is not None:
        return _built_with(found, other, run, say)
    warning = ""
    if found.python != python_version() and can_use_image_python(found):
        warning = (f"the {version} image runs Python {found.python}, which was not found (looked in "
                   f"{pythons.where_looked(found.python)}), so its environment runs on Python {python_version()}; "
                   f"to match, {pythons.install_hint(found.python)}")
    if (_env_path(found) / COMPLETE_MARKER).is_file():
        return Environment(version, "built", _env_path(found), warning)
    say(f"Building the scikit-learn {version} environment (once; cached in {cache_dir()}): "
        f"{', '.join(f'{k}{v}' for k, v in found.libraries.items() if v)}")
    return Environment(version, "built", _build(found, _env_path(found), run, with_libraries=True), warning)


def _built_with(found: Framework, other: Interpreter, run: Runner, say: Any) -> Environment:
    venv = _env_path(found, other)
    if not (venv / COMPLETE_MARKER).is_file():
        say(f"Building the scikit-learn {found.version} environment with the image's Python {other.version} "
            f"({other.found_by}: {other.executable}; once, cached in {cache_dir()}): "
            f"{', '.join(f'{k}{v}' for k, v in found.libraries.items() if v)}")
        _build_other(found, venv, run, other)
    return Environment(found.version, "built", venv, interpreter=other)


def _env_path(found: Framework, other: Interpreter | None = None) -> Path:
    if other is not None:
        key = venv_key(b"framework", python=f"{other.executable}\0{other.version}", layer=[])[:10]
        return cache_dir() / f"sklearn-{found.version}-py{other.minor}-{key}"
    return cache_dir() / f"sklearn-{found.version}-py{python_version()}-{_layer_key()}"


def _overlay_path(found: Framework) -> Path:
    return cache_dir() / f"toolkits-{found.version}-py{python_version()}-{_layer_key()}"


def _layer_key() -> str:
    """The interpreter the environment is layered on, by its site-packages (``python`` and ``python3``
    in one venv are the same interpreter)."""
    return venv_key(b"framework", python=sys.version, layer=layer_dirs(None))[:10]


def _build(found: Framework, venv: Path, run: Runner, *, with_libraries: bool) -> Path:
    if (venv / COMPLETE_MARKER).is_file():  # built before: reused at once
        return venv
    libraries = _installable_specs(found.libraries) if with_libraries else []
    dependencies = _installable_specs(found.toolkit_dependencies)
    pip = ["-m", "pip", "install", "--disable-pip-version-check"]
    commands = [[*pip, "--only-binary", BINARY_ONLY, *libraries, *dependencies],
                [*pip, "--no-deps", *(name + spec for name, spec in found.toolkits.items())]]
    build_once(venv, layer_dirs(None), commands, run, cwd=cache_dir(), note=found.source, finish=_patch_toolkits)
    return venv


def _build_other(found: Framework, venv: Path, run: Runner, other: Interpreter) -> Path:
    """A venv of the image's Python with its pins, toolkits, smtrain's serving runtime and smtrain itself."""
    python = other.executable
    pins = _installable_specs({**found.libraries, **found.toolkit_dependencies}, python)
    pip = ["-m", "pip", "install", "--disable-pip-version-check"]
    commands = [[*pip, "--only-binary", BINARY_ONLY, *pins, *own_requirements(SERVING_RUNTIME + TOOLKIT_IMPORTS)],
                [*pip, "--no-deps", *(name + spec for name, spec in found.toolkits.items())]]

    def finish(building: Path) -> None:
        _patch_toolkits(building)
        _link_smtrain(building)

    build_once(venv, [], commands, run, cwd=cache_dir(), note=f"{found.source} on {python}", finish=finish,
               python=python)
    return venv


def own_requirements(names: tuple[str, ...]) -> list[str]:
    """smtrain's own requirement specs for ``names`` (``gunicorn>=22``), as its metadata says."""
    specs = {re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower(): r.split(";")[0].strip()
             for r in metadata.requires("smtrain") or [] if "extra ==" not in r}
    return [specs.get(name, name) for name in names]


def _link_smtrain(venv: Path) -> None:
    """smtrain is pure Python: its package folder, linked in, is importable from the other Python too."""
    import smtrain

    (site_packages(venv) / "smtrain").symlink_to(Path(smtrain.__file__).resolve().parent, target_is_directory=True)


def _installable_specs(pins: Mapping[str, str], python: str = sys.executable) -> list[str]:
    """``name==pin`` where that installs on ``python``, else the nearest of the same minor, then major."""
    exact = [name + spec for name, spec in pins.items()]
    if _available(exact, python):  # the usual case: one query
        return exact
    specs = []
    for name, spec in pins.items():
        for candidate in _relaxations(name, spec):
            if candidate == name or _available([candidate], python):
                specs.append(candidate)
                break
    return specs


def _relaxations(name: str, spec: str) -> list[str]:
    exact = re.fullmatch(r"==(\d+)\.(\d+)(?:\.[\w.]+)?", spec)
    if not exact:
        return [name + spec, name] if spec else [name]
    major, minor = int(exact[1]), int(exact[2])
    return [name + spec, f"{name}>={major}.{minor},<{major}.{minor + 1}",
            f"{name}>={spec[2:]},<{major + 1}", name]


def _available(requirements: list[str], python: str = sys.executable) -> bool:
    """Whether releases matching ``requirements`` install on ``python`` (metadata only, no download)."""
    command = [python, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed", "-q",
               "--disable-pip-version-check", "--only-binary", BINARY_ONLY, *requirements]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def _patch_toolkits(venv: Path) -> None:
    """The image's own fix for sagemaker-containers on Python >= 3.10 (``collections.Mapping``)."""
    mapping = site_packages(venv) / "sagemaker_containers" / "_mapping.py"
    if mapping.is_file():
        text = mapping.read_text()
        mapping.write_text(text.replace("collections.Mapping", "collections.abc.Mapping"))


VERSIONS_PROBE = ("import json, sys\nfrom importlib import metadata\nout = {}\nfor n in sys.argv[1:]:\n"
                  "    try: out[n] = metadata.version(n)\n    except metadata.PackageNotFoundError: pass\n"
                  "print(json.dumps(out))")


def library_versions(python: str) -> dict[str, str]:
    """The versions of the image's libraries and toolkits that ``python`` imports."""
    names = [*LIBRARIES, *TOOLKITS]
    if python == sys.executable:
        return {n: v for n in names if (v := installed(n))}
    done = subprocess.run([python, "-c", VERSIONS_PROBE, *names], capture_output=True, text=True, check=False)
    try:
        return dict(json.loads(done.stdout))
    except ValueError:
        return {}


def record(environment: Environment, versions: Mapping[str, str]) -> dict[str, Any]:
    """What the job record keeps about the environment that ran."""
    other = environment.interpreter
    entry: dict[str, Any] = {
        "FrameworkVersion": environment.framework_version, "Environment": environment.kind,
        "Python": other.version if other else ".".join(map(str, sys.version_info[:3])),
        "PythonFrom": f"{other.found_by}: {other.executable}" if other else f"this interpreter: {sys.executable}",
        "Libraries": dict(versions)}
    found = table().get(environment.framework_version)
    if found is not None:
        entry["ImagePython"] = found.python
        entry["ImagePins"] = {k: v for k, v in {**found.libraries, **found.toolkits}.items() if v}
    return entry

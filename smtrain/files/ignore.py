"""Which paths of a source directory the ignore files leave out, with the rule that did it.

Inside a git work tree, git itself decides (``git check-ignore --no-index``): nested
``.gitignore`` files, the repository's ``.gitignore`` files above the source
directory, ``.git/info/exclude`` and the user's ``core.excludesFile``, with git's
exact precedence. ``--no-index`` means a tracked file that matches a pattern is
left out too (the ignore files, not the index, say what ships). Outside a git
work tree, or without a ``git`` program, pathspec applies the ``.gitignore``
files found inside the source directory, each relative to its own folder, the
deepest first.

Git reads a malformed ``.gitignore`` line its own way; pathspec, and so the
fallback and ``.smtrainignore``, refuses it with an error naming file and line.

``.smtrainignore`` (gitignore syntax, at the source root) is applied on top of
either, so ``!pattern`` there re-includes what git leaves out. The source
directory itself is never ignored, even when the repository ignores it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from smtrain.core.errors import UsageError

if TYPE_CHECKING:
    import pathspec

SMTRAINIGNORE = ".smtrainignore"
GITIGNORE = ".gitignore"
GIT_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class PatternFile:
    """One ignore file, compiled; ``base`` is the folder (relative, '' or 'a/b/') its patterns are relative to."""

    label: str
    base: str
    spec: pathspec.GitIgnoreSpec
    rules: tuple[tuple[int, str], ...]  # (line number, text) of each pattern in ``spec``

    def check(self, path: str) -> str | None:
        """``None`` if no pattern matches ``path``; else '' (re-included) or the reason it is ignored."""
        if not path.startswith(self.base):
            return None
        relative = path[len(self.base):]
        index = self._last_folder_match(relative) if relative.endswith("/") else self.spec.check_file(relative).index
        if index is None:
            return None
        number, text = self.rules[index]
        return f"ignored by {self.label}:{number} ({text})" if self.spec.patterns[index].include else ""

    def _last_folder_match(self, folder: str) -> int | None:
        # For a folder git takes the last matching pattern. pathspec's file priorities would let '*' beat a
        # later '!*/'; and 'dir/**' matches what is inside dir, not dir itself (so '!dir/keep' works).
        for index in reversed(range(len(self.rules))):
            if not self.rules[index][1].endswith("/**") and self.spec.patterns[index].match_file(folder) is not None:
                return index
        return None


def read_pattern_file(path: Path, label: str, base: str) -> PatternFile:
    """Compile a gitignore-syntax file; a bad pattern is an error naming the file and line."""
    import pathspec

    try:
        lines = tuple(path.read_text(encoding="utf-8", errors="surrogateescape").splitlines())
    except OSError as exc:
        raise UsageError(f"cannot read the ignore file: {exc.strerror}", where=str(path),
                         hint="make it readable, or remove it") from exc
    patterns, rules = [], []
    for number, line in enumerate(lines, start=1):
        try:
            compiled = [p for p in pathspec.GitIgnoreSpec.from_lines([line]).patterns if p.include is not None]
        except (ValueError, re.error) as exc:  # pathspec compiles each pattern to a regex
            raise UsageError(
                f"invalid ignore pattern {line!r}: {exc}", where=f"{path}:{number}",
                hint="fix or remove that line (gitignore syntax: https://git-scm.com/docs/gitignore)",
            ) from exc
        patterns += compiled
        rules += [(number, line.strip())] * len(compiled)
    return PatternFile(label, base, pathspec.GitIgnoreSpec(patterns), tuple(rules))


@dataclass
class IgnoreRules:
    """Ask :meth:`ignored` about the entries of one depth at a time, parents before children.

    Names are relative POSIX paths under the source root; folders end with ``/``.
    """

    root: Path
    git_top: Path | None = None
    nested: dict[str, PatternFile | None] = field(default_factory=dict)  # folder -> its .gitignore
    overlay: PatternFile | None = None

    @classmethod
    def for_source(cls, root: Path) -> IgnoreRules:
        overlay_path = root / SMTRAINIGNORE
        overlay = read_pattern_file(overlay_path, SMTRAINIGNORE, "") if overlay_path.is_file() else None
        return cls(root, git_top=git_work_tree(root), overlay=overlay)

    def enter(self, folder: str) -> None:
        """Note ``folder``'s ``.gitignore`` (used when git does not decide); ``folder`` is '' or ends with '/'."""
        if self.git_top is None and folder not in self.nested:
            path = self.root / folder / GITIGNORE
            self.nested[folder] = read_pattern_file(path, folder + GITIGNORE, folder) if path.is_file() else None

    def ignored(self, names: Iterable[str]) -> dict[str, str]:
        """The subset of ``names`` left out, each with the rule that did it."""
        names = list(names)
        base = self._git_ignored(names) if self.git_top is not None else self._pathspec_ignored(names)
        if self.overlay is None:
            return base
        reasons = {}
        for name in names:
            verdict = self.overlay.check(name)
            reason = base.get(name, "") if verdict is None else verdict
            if reason:
                reasons[name] = reason
        return reasons

    def _pathspec_ignored(self, names: list[str]) -> dict[str, str]:
        reasons = {}
        deepest_first = sorted((f for f in self.nested.values() if f is not None), key=lambda f: -len(f.base))
        for name in names:
            verdict = next((v for f in deepest_first if (v := f.check(name)) is not None), None)
            if verdict:
                reasons[name] = verdict
        return reasons

    def _git_ignored(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        git = shutil.which("git") or "git"
        try:
            done = subprocess.run(
                [git, "check-ignore", "--no-index", "--verbose", "--non-matching", "-z", "--stdin"],
                cwd=self.root, input="".join(n.rstrip("/") + "\0" for n in names).encode("utf-8", "surrogateescape"),
                capture_output=True, timeout=GIT_TIMEOUT_SECONDS, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UsageError(f"git check-ignore failed: {exc}", where=str(self.root),
                             hint="check that git works in this folder (`git status`)") from exc
        fields = done.stdout.decode("utf-8", "surrogateescape").split("\0")
        if done.returncode not in (0, 1) or len(fields) < 4 * len(names):
            raise UsageError(f"git check-ignore failed: {done.stderr.decode(errors='replace').strip()}",
                             where=str(self.root), hint="check that git works in this folder (`git status`)")
        reasons = {}
        for index, name in enumerate(names):
            source, line, pattern = fields[4 * index: 4 * index + 3]
            if pattern and not pattern.startswith("!"):
                reasons[name] = f"ignored by {source}:{line} ({pattern})"
        return reasons


def git_work_tree(folder: Path) -> Path | None:
    """The top of the git work tree holding ``folder``; ``None`` if there is none or no git program."""
    git = shutil.which("git")
    if git is None or not any((parent / ".git").exists() for parent in (folder, *folder.parents)):
        return None
    try:
        done = subprocess.run([git, "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None

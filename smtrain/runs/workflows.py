"""CI workflow files that `smtrain ci init` writes: train on SageMaker, report on the pull request.

The shape, for GitHub Actions:

- ``train`` authenticates with OIDC (``aws-actions/configure-aws-credentials``:
  no stored AWS keys), submits the job with ``--no-wait`` and hands its name on.
- ``report`` authenticates again, so its credentials are fresh however long
  the queue was; it follows the job to its end, writes ``smtrain report`` to
  the job summary and to one pull-request comment that it updates in place
  (found by a hidden marker), and on the main branch registers the model,
  approved when the gate passes.
- Pull requests from forks get no OIDC token and no secrets: both jobs skip
  (the ``if:``), rather than fail on missing credentials.
- Nothing prints a secret: no ``set -x``, no ``env`` dumps; tokens stay in
  the actions that use them.
- The comment it updates is one its own identity wrote (``github-actions[bot]``,
  or the GitLab token's user) that starts with the marker: a comment someone
  else wrote with the marker in it is never edited.

What the user gives (entry point, source dir, channel, gate, group, branch)
is data, never code: each value is one quoted YAML string in ``env:`` (GitLab:
``variables:`` with ``expand: false``), and the ``run:`` lines only read
``"$VARIABLE"``; no value is ever inside ``${{ }}`` or a shell line. Values
that cannot be carried safely are refused (:func:`check`): control characters
and line breaks anywhere, ``${{`` for GitHub (Actions evaluates expressions in
``env:`` too), and a branch that is not a plain branch name (a glob such as
``**`` would release from every branch). :func:`render` parses its output back
and compares every value before anything is written.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

from smtrain.core.errors import SmtrainError, UsageError
from smtrain.runs.escaping import printable

# A plain branch name: none of the glob or negation characters of GitHub's filter patterns (* ? + [ ] ! and
# backslash), no spaces or quotes, none of git's forbidden forms: so the push trigger matches that branch alone.
BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)(?!.*\.lock$)(?!.*[./]$)[A-Za-z0-9._/-]{1,255}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The environment variable each setting travels in (no SMTRAIN_ prefix: they are not smtrain settings).
VARIABLES = {"entry_point": "TRAIN_ENTRY_POINT", "source_dir": "TRAIN_SOURCE_DIR", "channel": "TRAIN_CHANNEL",
             "gate": "RELEASE_GATE", "group": "MODEL_GROUP", "branch": "RELEASE_BRANCH"}
OPTIONS = {"entry_point": "--entry-point", "source_dir": "--source-dir", "channel": "--channel", "gate": "--gate",
           "group": "--group", "branch": "--branch"}


@dataclass(frozen=True)
class CiSettings:
    entry_point: str
    source_dir: str
    channel: str  # NAME=URI (an s3:// URI: CI machines hold no data)
    gate: str
    group: str
    python: str = "3.11"
    install: str = "pip install smtrain"
    branch: str = "main"

    def variables(self) -> dict[str, str]:
        return {VARIABLES[f.name]: getattr(self, f.name) for f in fields(self) if f.name in VARIABLES}


def check(provider: str, settings: CiSettings) -> None:
    """Refuse what cannot be carried into the workflow as plain data."""
    for name, option in OPTIONS.items():
        value = getattr(settings, name)
        if not value:
            raise UsageError(f"{option} is empty", where=option, hint=f"give {option} a value; nothing was written")
        if _CONTROL.search(value):
            raise UsageError(f"{option} '{printable(value)}' holds a line break or another control character",
                             where=option, hint="a workflow value is one line of text; nothing was written")
        if provider == "github" and "${{" in value:
            raise UsageError(f"{option} '{value}' holds '${{{{', which GitHub Actions evaluates as an expression",
                             where=option, hint="give the value itself, with no ${{ }}; nothing was written")
    if not BRANCH.match(settings.branch):
        raise UsageError(f"--branch '{settings.branch}' is not a plain branch name", where="--branch",
                         hint="use letters, digits and . _ / - only (no globs, quotes, brackets or spaces), "
                              "e.g. main or release/v2; nothing was written")


def _quoted(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is YAML's); ASCII only, one line."""
    return json.dumps(value)


# Both GitHub jobs set up Python and smtrain, then authenticate with OIDC.
GITHUB_SETUP_STEPS = """\
      - uses: actions/setup-python@v5
        with:
          python-version: "{python}"
      - run: {install}
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: ${{{{ vars.AWS_CI_ROLE_ARN }}}}
          aws-region: ${{{{ vars.AWS_REGION }}}}
          role-duration-seconds: 3600"""

GITHUB = """\
# Written by `smtrain ci init github`. Train on SageMaker, report on the pull request, release from {branch}.
#
# Repository variables (Settings > Secrets and variables > Actions > Variables; none of them is secret):
#   AWS_REGION        region of the SageMaker jobs
#   AWS_CI_ROLE_ARN   role this workflow assumes through GitHub's OIDC provider (no stored AWS keys)
#   SMTRAIN_ROLE      SageMaker execution role the training job runs as
# The CI role's session lasts role-duration-seconds (1 hour here): the job is submitted with --no-wait and
# followed by a second job with fresh credentials. For training longer than the session, raise the role's
# MaxSessionDuration and role-duration-seconds (up to 12 hours), or re-run the `report` job later.
# The settings are the env: values below; the run: lines only read them as "$NAME", never as code.
name: smtrain

on:
  pull_request:
  push:
    branches: [{branch_quoted}]

permissions:
  contents: read

concurrency:
  group: smtrain-${{{{ github.ref }}}}
  cancel-in-progress: false

env:
  SMTRAIN_BACKEND: sagemaker
  AWS_REGION: ${{{{ vars.AWS_REGION }}}}
  SMTRAIN_ROLE: ${{{{ vars.SMTRAIN_ROLE }}}}
{variables}

jobs:
  train:
    # Pull requests from forks get no OIDC token and no secrets: skip instead of failing.
    if: github.event_name == 'push' || github.event.pull_request.head.repo.full_name == github.repository
    runs-on: ubuntu-latest
    permissions:
      contents: read
      id-token: write
    outputs:
      job: ${{{{ steps.fit.outputs.job }}}}
    steps:
      - uses: actions/checkout@v4
{setup_steps}
      - id: fit
        name: Submit the training job
        env:
          JOB: ci-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}
          REF: ${{{{ github.head_ref || github.ref_name }}}}
        run: |
          smtrain fit {fit_arguments} --job-name "$JOB" --tag ci=github --tag "ref=$REF" --no-wait
          echo "job=$JOB" >> "$GITHUB_OUTPUT"

  report:
    needs: train
    runs-on: ubuntu-latest
    permissions:
      contents: read
      id-token: write
      pull-requests: write
    env:
      JOB: ${{{{ needs.train.outputs.job }}}}
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0  # `--baseline main` looks for the newest run from a commit on the release branch
{setup_steps}
      - name: Follow the job to its end
        run: smtrain logs "$JOB"
      - id: report
        name: Report against the release branch
        run: |
          status=0
          smtrain report "$JOB" --baseline main --gate "$RELEASE_GATE" --out report.md || status=$?
          cat report.md >> "$GITHUB_STEP_SUMMARY"
          echo "gate=$status" >> "$GITHUB_OUTPUT"
      - name: Comment on the pull request (one comment, updated in place)
        if: github.event_name == 'pull_request'
        uses: actions/github-script@v7
        with:
          script: |
            const body = require('fs').readFileSync('report.md', 'utf8');
            const marker = '{marker}';
            const {{ owner, repo }} = context.repo;
            const issue_number = context.issue.number;
            const comments = await github.paginate(github.rest.issues.listComments, {{ owner, repo, issue_number }});
            // only a comment this workflow's own identity (GITHUB_TOKEN) wrote is updated
            const mine = comments.find((c) => c.user && c.user.login === 'github-actions[bot]' && c.user.type === 'Bot'
              && c.body && c.body.startsWith(marker));
            if (mine) {{
              await github.rest.issues.updateComment({{ owner, repo, comment_id: mine.id, body }});
            }} else {{
              await github.rest.issues.createComment({{ owner, repo, issue_number, body }});
            }}
      - name: Register the model (approved when the gate passes)
        if: github.event_name == 'push' && github.ref_name == env.RELEASE_BRANCH
        env:
          GATE: ${{{{ steps.report.outputs.gate }}}}
        run: |
          if [ "$GATE" = "0" ]; then
            smtrain register "$JOB" --group "$MODEL_GROUP" --approve
          else
            smtrain register "$JOB" --group "$MODEL_GROUP"
          fi
      - name: Fail when the gate fails
        if: steps.report.outputs.gate != '0'
        run: exit 1
"""

GITLAB = """\
# Written by `smtrain ci init gitlab`. Train on SageMaker, report on the merge request, release from {branch}.
#
# CI/CD variables: AWS_REGION, AWS_CI_ROLE_ARN (assumed with GitLab's OIDC id_token: no stored AWS keys),
# SMTRAIN_ROLE (the SageMaker execution role), and optionally SMTRAIN_GITLAB_TOKEN (masked; a project access
# token with api scope) to post the report as one merge-request note, updated in place.
# boto3 assumes the role from the token file itself and refreshes the credentials, so a long wait is fine.
# Merge requests from forks run without the project's variables: the rules skip them.
# The settings are the variables below (expand: false: taken as written); the scripts only read them as "$NAME".

variables:
  SMTRAIN_BACKEND: sagemaker
  AWS_ROLE_ARN: $AWS_CI_ROLE_ARN
  AWS_WEB_IDENTITY_TOKEN_FILE: $CI_PROJECT_DIR/.aws-web-identity-token
  AWS_ROLE_SESSION_NAME: gitlab-$CI_PIPELINE_ID
{variables}

.smtrain:
  image: python:{python}
  id_tokens:
    AWS_ID_TOKEN:
      aud: sts.amazonaws.com
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event" && $CI_MERGE_REQUEST_SOURCE_PROJECT_ID == $CI_PROJECT_ID
    - if: $CI_COMMIT_BRANCH == {branch_quoted}
  before_script:
    - (umask 077 && printf '%s' "$AWS_ID_TOKEN" > "$AWS_WEB_IDENTITY_TOKEN_FILE")
    - {install}

stages: [train, report]

train:
  extends: .smtrain
  stage: train
  script:
    - export JOB="ci-$CI_PIPELINE_ID"
    - smtrain fit {fit_arguments} --job-name "$JOB" --tag ci=gitlab --tag "ref=$CI_COMMIT_REF_NAME" --no-wait

report:
  extends: .smtrain
  stage: report
  script:
    - export JOB="ci-$CI_PIPELINE_ID"
    - git fetch --quiet origin "$RELEASE_BRANCH" || true
    - smtrain logs "$JOB"
    - status=0; smtrain report "$JOB" --baseline main --gate "$RELEASE_GATE" --out report.md || status=$?
    - |
      if [ -n "$CI_MERGE_REQUEST_IID" ] && [ -n "$SMTRAIN_GITLAB_TOKEN" ]; then
        python - <<'PY'
      import json, os, urllib.request
      root = os.environ["CI_API_V4_URL"]
      api = f"{{root}}/projects/{{os.environ['CI_PROJECT_ID']}}"
      api += f"/merge_requests/{{os.environ['CI_MERGE_REQUEST_IID']}}/notes"
      headers = {{"PRIVATE-TOKEN": os.environ["SMTRAIN_GITLAB_TOKEN"], "Content-Type": "application/json"}}
      body = open("report.md", encoding="utf-8").read()
      me = json.load(urllib.request.urlopen(urllib.request.Request(root + "/user", headers=headers)))
      notes = json.load(urllib.request.urlopen(urllib.request.Request(api + "?per_page=100", headers=headers)))
      # only a note the token's own user wrote is updated, never one that quotes the marker
      mine = [n for n in notes if n.get("author", {{}}).get("id") == me["id"] and not n.get("system")
              and n.get("body", "").startswith("{marker}")]
      url, method = (f"{{api}}/{{mine[0]['id']}}", "PUT") if mine else (api, "POST")
      data = json.dumps({{"body": body}}).encode()
      urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method=method)).close()
      PY
      fi
    - |
      if [ "$CI_COMMIT_BRANCH" = "$RELEASE_BRANCH" ]; then
        if [ "$status" = "0" ]; then smtrain register "$JOB" --group "$MODEL_GROUP" --approve;
        else smtrain register "$JOB" --group "$MODEL_GROUP"; fi
      fi
    - exit $status
  artifacts:
    when: always
    paths: [report.md]
"""

PATHS = {"github": ".github/workflows/smtrain.yml", "gitlab": ".gitlab-ci.yml"}
FIT_ARGUMENTS = ('--entry-point "$TRAIN_ENTRY_POINT" --source-dir "$TRAIN_SOURCE_DIR" '
                 '--channel "$TRAIN_CHANNEL"')


def render(provider: str, settings: CiSettings) -> str:
    """The workflow file, checked: values refused by :func:`check` never get here, and the text is parsed back
    to prove that every value arrives exactly as given."""
    from smtrain.runs.report import MARKER

    check(provider, settings)
    variables = settings.variables()
    if provider == "github":
        template = GITHUB
        lines = [f"  {name}: {_quoted(value)}" for name, value in variables.items()]
    else:
        template = GITLAB
        lines = [f"  {name}:\n    value: {_quoted(value)}\n    expand: false" for name, value in variables.items()]
    setup_steps = GITHUB_SETUP_STEPS.format(python=settings.python, install=settings.install)
    text = template.format(branch=settings.branch, branch_quoted=_quoted(settings.branch), python=settings.python,
                           install=settings.install, fit_arguments=FIT_ARGUMENTS, variables="\n".join(lines),
                           setup_steps=setup_steps, marker=MARKER)
    _parse_back(provider, text, settings)
    return text


def _parse_back(provider: str, text: str, settings: CiSettings) -> None:
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SmtrainError(f"the {provider} workflow smtrain wrote is not valid YAML: {exc}", where="ci init",
                           hint="nothing was written; please report this with the flags you gave") from exc
    if provider == "github":
        found = {name: document["env"].get(name) for name in VARIABLES.values()}
        branches = document[True]["push"]["branches"]  # YAML 1.1 reads the key `on` as true
    else:
        found = {name: (document["variables"].get(name) or {}).get("value") for name in VARIABLES.values()}
        branches = [settings.branch]
    if found != settings.variables() or branches != [settings.branch]:
        raise SmtrainError(f"the {provider} workflow does not carry the settings as given", where="ci init",
                           hint="nothing was written; please report this with the flags you gave")


def write(path: Path, text: str, *, replace: bool) -> None:
    """Write ``text`` to ``path`` whole or not at all: a temp file beside it, then linked (new) or renamed
    (``replace``) into place; without ``replace`` a file that appeared meanwhile is never overwritten."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, 0o644)
        if replace:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)
            except FileExistsError:
                raise UsageError(f"{path} exists", where="ci init",
                                 hint="add --force to replace it; nothing was written") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)

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
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


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

    @property
    def fit_arguments(self) -> str:
        return " ".join(shlex.quote(a) for a in ("--entry-point", self.entry_point, "--source-dir", self.source_dir,
                                                 "--channel", self.channel))


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
name: smtrain

on:
  pull_request:
  push:
    branches: [{branch}]

permissions:
  contents: read

concurrency:
  group: smtrain-${{{{ github.ref }}}}
  cancel-in-progress: false

env:
  SMTRAIN_BACKEND: sagemaker
  AWS_REGION: ${{{{ vars.AWS_REGION }}}}
  SMTRAIN_ROLE: ${{{{ vars.SMTRAIN_ROLE }}}}

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
          fetch-depth: 0  # `--baseline main` looks for the newest run from a commit on {branch}
{setup_steps}
      - name: Follow the job to its end
        run: smtrain logs "$JOB"
      - id: report
        name: Report against {branch}
        run: |
          status=0
          smtrain report "$JOB" --baseline main --gate {gate} --out report.md || status=$?
          cat report.md >> "$GITHUB_STEP_SUMMARY"
          echo "gate=$status" >> "$GITHUB_OUTPUT"
      - name: Comment on the pull request (one comment, updated in place)
        if: github.event_name == 'pull_request'
        uses: actions/github-script@v7
        with:
          script: |
            const body = require('fs').readFileSync('report.md', 'utf8');
            const marker = '<!-- smtrain-report -->';
            const {{ owner, repo }} = context.repo;
            const issue_number = context.issue.number;
            const comments = await github.paginate(github.rest.issues.listComments, {{ owner, repo, issue_number }});
            const mine = comments.find((c) => c.body && c.body.includes(marker));
            if (mine) {{
              await github.rest.issues.updateComment({{ owner, repo, comment_id: mine.id, body }});
            }} else {{
              await github.rest.issues.createComment({{ owner, repo, issue_number, body }});
            }}
      - name: Register the model (approved when the gate passes)
        if: github.event_name == 'push' && github.ref_name == '{branch}'
        run: |
          if [ "${{{{ steps.report.outputs.gate }}}}" = "0" ]; then
            smtrain register "$JOB" --group {group} --approve
          else
            smtrain register "$JOB" --group {group}
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

variables:
  SMTRAIN_BACKEND: sagemaker
  AWS_ROLE_ARN: $AWS_CI_ROLE_ARN
  AWS_WEB_IDENTITY_TOKEN_FILE: $CI_PROJECT_DIR/.aws-web-identity-token
  AWS_ROLE_SESSION_NAME: gitlab-$CI_PIPELINE_ID

.smtrain:
  image: python:{python}
  id_tokens:
    AWS_ID_TOKEN:
      aud: sts.amazonaws.com
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event" && $CI_MERGE_REQUEST_SOURCE_PROJECT_ID == $CI_PROJECT_ID
    - if: $CI_COMMIT_BRANCH == "{branch}"
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
    - git fetch --quiet origin {branch} || true
    - smtrain logs "$JOB"
    - status=0; smtrain report "$JOB" --baseline main --gate {gate} --out report.md || status=$?
    - |
      if [ -n "$CI_MERGE_REQUEST_IID" ] && [ -n "$SMTRAIN_GITLAB_TOKEN" ]; then
        python - <<'PY'
      import json, os, urllib.request
      api = f"{{os.environ['CI_API_V4_URL']}}/projects/{{os.environ['CI_PROJECT_ID']}}"
      api += f"/merge_requests/{{os.environ['CI_MERGE_REQUEST_IID']}}/notes"
      headers = {{"PRIVATE-TOKEN": os.environ["SMTRAIN_GITLAB_TOKEN"], "Content-Type": "application/json"}}
      body = open("report.md", encoding="utf-8").read()
      notes = json.load(urllib.request.urlopen(urllib.request.Request(api + "?per_page=100", headers=headers)))
      mine = [n for n in notes if "<!-- smtrain-report -->" in n.get("body", "")]
      url, method = (f"{{api}}/{{mine[0]['id']}}", "PUT") if mine else (api, "POST")
      data = json.dumps({{"body": body}}).encode()
      urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method=method)).close()
      PY
      fi
    - |
      if [ "$CI_COMMIT_BRANCH" = "{branch}" ]; then
        if [ "$status" = "0" ]; then smtrain register "$JOB" --group {group} --approve;
        else smtrain register "$JOB" --group {group}; fi
      fi
    - exit $status
  artifacts:
    when: always
    paths: [report.md]
"""

PATHS = {"github": ".github/workflows/smtrain.yml", "gitlab": ".gitlab-ci.yml"}


def render(provider: str, settings: CiSettings) -> str:
    template = GITHUB if provider == "github" else GITLAB
    setup_steps = GITHUB_SETUP_STEPS.format(python=settings.python, install=settings.install)
    return template.format(branch=settings.branch, python=settings.python, install=settings.install,
                           fit_arguments=settings.fit_arguments, gate=shlex.quote(settings.gate),
                           group=shlex.quote(settings.group), setup_steps=setup_steps)

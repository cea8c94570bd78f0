#!/usr/bin/env bash
# Build the baseline tools the S3/SageMaker benches compare smtrain against, in
# their own virtual environment (bench/.venv-sdk2, gitignored), so they never
# mix with smtrain's dependencies:
#   - the SageMaker Python SDK v2 (the last line with the SKLearn estimator),
#   - the AWS CLI v1 (pip's awscli), for `aws s3 sync`.
#
#     bash bench/setup_baselines.sh            # idempotent; PYTHON=python3.11 to pick the interpreter
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-sdk2"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "sagemaker>=2.200,<3" awscli
"$venv/bin/python" - <<'PY'
from importlib.metadata import version
for name in ("sagemaker", "boto3", "botocore", "awscli", "s3transfer"):
    print(f"{name}=={version(name)}")
PY

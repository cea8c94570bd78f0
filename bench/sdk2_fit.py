"""The baseline of bench/submit.py: SDK v2's SKLearn estimator submitting a job, as a user's script does.

Run by the SDK-v2 virtual environment's interpreter (bench/setup_baselines.sh):

    bench/.venv-sdk2/bin/python bench/sdk2_fit.py JOB_JSON

JOB_JSON holds entry_point, source_dir, role, framework_version, hyperparameters,
train (the S3 input channel) and job_name. Every AWS call goes where
AWS_ENDPOINT_URL points (the bench's moto server), with two redirections the
SDK needs, both of which keep its sequence of AWS calls unchanged:

- the SDK builds its STS client with an explicit regional ``endpoint_url``
  (``sagemaker.utils.sts_regional_endpoint``), which beats AWS_ENDPOINT_URL:
  it is pointed at AWS_ENDPOINT_URL instead;
- ``estimator.fit`` sends a telemetry GET to a public S3 bucket on the internet
  (``sagemaker.telemetry.telemetry_logging._requests_helper``, outside any
  AWS endpoint setting): that one HTTP request is skipped; the STS call that
  precedes it still goes to moto. This only makes the SDK faster than it is.
"""

import json
import os
import sys

import sagemaker.session
import sagemaker.telemetry.telemetry_logging
from sagemaker.sklearn import SKLearn

sagemaker.session.sts_regional_endpoint = lambda region: os.environ["AWS_ENDPOINT_URL"]
sagemaker.telemetry.telemetry_logging._requests_helper = lambda url, timeout: None

job = json.loads(sys.argv[1])
estimator = SKLearn(
    entry_point=job["entry_point"],
    source_dir=job["source_dir"],
    role=job["role"],
    instance_type="ml.m5.large",
    instance_count=1,
    framework_version=job["framework_version"],
    hyperparameters=job["hyperparameters"],
)
estimator.fit(inputs={"train": job["train"]}, wait=False, job_name=job["job_name"])
print(estimator.latest_training_job.name)

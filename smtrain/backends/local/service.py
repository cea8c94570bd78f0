"""The local SageMaker service: shaped like ``boto3.client("sagemaker")``.

One method per API operation, PascalCase keyword arguments, responses in
the real shapes, ``botocore.exceptions.ClientError`` with the real error
codes. State lives in SQLite under ``$SMTRAIN_HOME`` so that jobs and
endpoints outlive the process that created them.
"""

from __future__ import annotations

from smtrain.backends.local.endpoints import EndpointsAPI
from smtrain.backends.local.home import LocalHome
from smtrain.backends.local.jobs import TrainingJobsAPI
from smtrain.backends.local.registry import RegistryAPI


class LocalSageMaker(TrainingJobsAPI, EndpointsAPI, RegistryAPI):
    def __init__(self, home: LocalHome, *, region: str = "us-east-1", runtime_port: int = 0) -> None:
        self.home = home
        self.region = region
        self.runtime_port = runtime_port
        self.db = home.state()

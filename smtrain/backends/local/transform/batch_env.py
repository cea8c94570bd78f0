"""The model container's environment in a transform job.

Source: SDK v2 ``sagemaker/local/entities.py`` ``_LocalTransformJob._get_container_environment``, and the
AWS docs "How containers serve requests" for batch transform
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html): the model's own
Environment, then ``SAGEMAKER_BATCH=True``, ``SAGEMAKER_MAX_PAYLOAD_IN_MB``, ``SAGEMAKER_BATCH_STRATEGY``
(``SINGLE_RECORD`` / ``MULTI_RECORD``) and ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS``, then the transform
job's own Environment. The SDK's local mode forces MaxConcurrentTransforms to 1; smtrain honours it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STRATEGY_VALUES = {"SingleRecord": "SINGLE_RECORD", "MultiRecord": "MULTI_RECORD"}


def batch_environment(model_environment: Mapping[str, str], job: Mapping[str, Any]) -> dict[str, str]:
    environment = {str(k): str(v) for k, v in model_environment.items()}
    environment["SAGEMAKER_BATCH"] = "True"
    environment["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(job["MaxPayloadInMB"])
    environment["SAGEMAKER_BATCH_STRATEGY"] = STRATEGY_VALUES[job["BatchStrategy"]]
    environment["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(job["MaxConcurrentTransforms"])
    environment.update({str(k): str(v) for k, v in (job.get("Environment") or {}).items()})
    return environment

"""What `smtrain doctor --backend sagemaker` reports: the role, bucket and region in use, and where each came from."""

from __future__ import annotations

from typing import Any

from smtrain.aws.roles import Found
from smtrain.core.config import setting_source
from smtrain.core.errors import SmtrainError


def region_found(backend: Any) -> Found:
    """SMTRAIN_REGION / AWS_REGION / AWS_DEFAULT_REGION (or --region, or smtrain.toml), else the AWS profile's."""
    config = backend.config
    if config.region:
        return Found(backend.region, setting_source(config, "region"))
    profile = config.profile or "default"
    return Found(backend.region, f"the AWS profile {profile!r} (botocore's chain: AWS_CONFIG_FILE, ~/.aws/config)")


def findings(backend: Any) -> list[dict[str, str]]:
    """One entry per setting: ``{"name", "value", "source"}``, or ``{"name", "problem"}`` when not found."""
    found = []
    for name, look in (("region", region_found), ("role", lambda b: b.role_found()),
                       ("bucket", lambda b: b.bucket_found())):
        try:
            result = look(backend)
        except SmtrainError as exc:
            found.append({"name": name, "problem": f"{exc.what}" + (f" ({exc.hint})" if exc.hint else "")})
            continue
        found.append({"name": name, "value": result.value, "source": result.source})
    defaults = backend.sdk_defaults()
    found.append({"name": "config.yaml", "value": ", ".join(defaults.files) or "none",
                  "source": "the SageMaker SDK's admin and user config files"})
    return found

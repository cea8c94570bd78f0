"""Settings checked before any AWS call: the region, and the framework image (cached on disk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtrain.aws import images
from smtrain.aws.session import AwsSession
from smtrain.aws.translation import AwsConfigError
from smtrain.backends.sagemaker import SageMakerBackend
from smtrain.core.config import Config


@pytest.mark.parametrize(("region", "suggestion"), [("us-east-1a", "us-east-1"), ("eu-west1", "eu-west-1"),
                                                    ("localhost", "")])
def test_a_region_sagemaker_does_not_have_is_refused_before_any_call(region: str, suggestion: str) -> None:
    session = AwsSession(region=region)
    with pytest.raises(AwsConfigError) as caught:
        session.client("sagemaker")
    assert caught.value.exit_code == 2
    assert caught.value.what == f"SageMaker has no region {region!r}"
    assert "SMTRAIN_REGION" in caught.value.hint and "upgrade boto3" in caught.value.hint
    if suggestion:
        assert f"did you mean {suggestion}? Otherwise set" in caught.value.hint
    else:
        assert caught.value.hint.startswith("set SMTRAIN_REGION")
    assert session._clients == {}


@pytest.mark.parametrize("region", ["eu-west-1", "us-gov-west-1", "cn-north-1"])
def test_every_partition_s_regions_are_accepted(region: str) -> None:
    assert AwsSession(region=region).region == region


def test_poll_interval_comes_from_the_config() -> None:
    backend = SageMakerBackend(Config(backend="sagemaker", region="eu-west-1", poll_seconds=0.5))
    assert backend.poll_seconds == 0.5
    assert SageMakerBackend(Config(backend="sagemaker", region="eu-west-1")).poll_seconds == 10.0


def test_image_uris_are_cached_per_sdk_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for cached in (images._cache, images.known_versions):
        cached.cache_clear()
    uri = images.sklearn_image_uri("eu-west-1", "1.2-1")
    assert uri == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    assert (tmp_path / "smtrain" / "image-uris.json").is_file()

    # A new process: the answers come from the file, sagemaker.core is not asked (nor imported).
    for cached in (images._cache, images.known_versions):
        cached.cache_clear()

    def no_sdk() -> None:
        raise AssertionError("sagemaker.core was asked")

    monkeypatch.setattr(images, "_image_uris", no_sdk)
    assert images.sklearn_image_uri("eu-west-1", "1.2-1") == uri
    assert "1.2-1" in images.known_versions()

    # Another SDK version: the saved answers no longer count.
    monkeypatch.setattr("importlib.metadata.version", lambda name: "0.0.0-other")
    for cached in (images._cache, images.known_versions):
        cached.cache_clear()
    with pytest.raises(AssertionError, match=r"sagemaker\.core was asked"):
        images.sklearn_image_uri("eu-west-1", "1.2-1")
    for cached in (images._cache, images.known_versions):
        cached.cache_clear()


def test_an_unwritable_cache_is_skipped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "smtrain").write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    images._cache.cache_clear()
    images.known_versions.cache_clear()
    try:
        assert images.sklearn_image_uri("us-east-1", "1.2-1").endswith("sagemaker-scikit-learn:1.2-1-cpu-py3")
    finally:
        images._cache.cache_clear()
        images.known_versions.cache_clear()

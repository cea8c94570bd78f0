"""Reading the SDK's config.yaml files and applying them to requests (pure; files in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtrain.core.errors import UsageError
from smtrain.core.sdk_config import default_paths, load_sdk_defaults
from smtrain.planning.sdk_defaults import apply_sdk_defaults, instance_supports_kms


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_default_paths_follow_platformdirs(tmp_path: Path) -> None:
    admin, user = default_paths()  # conftest points XDG_CONFIG_DIRS / XDG_CONFIG_HOME at tmp_path
    assert admin == str(tmp_path / "xdg-site" / "sagemaker" / "config.yaml")
    assert user == str(tmp_path / "xdg-config" / "sagemaker" / "config.yaml")


def test_no_files_no_defaults() -> None:
    assert load_sdk_defaults().values == {}


def test_the_user_file_is_merged_over_the_admin_file(tmp_path: Path) -> None:
    write(tmp_path / "xdg-site" / "sagemaker" / "config.yaml",
          "SchemaVersion: '1.0'\nSageMaker:\n  TrainingJob:\n    Environment: {A: admin, B: admin}\n")
    user = write(tmp_path / "xdg-config" / "sagemaker" / "config.yaml",
                 "SchemaVersion: '1.0'\nSageMaker:\n  TrainingJob:\n    Environment: {A: user}\n")
    defaults = load_sdk_defaults()
    assert defaults.get("SageMaker.TrainingJob.Environment") == {"A": "user", "B": "admin"}
    assert defaults.origin("SageMaker.TrainingJob.Environment") == str(user)


def test_an_override_may_name_a_folder(tmp_path: Path) -> None:
    write(tmp_path / "org" / "config.yaml",
          "SchemaVersion: '1.0'\nSageMaker:\n  Model:\n    EnableNetworkIsolation: true\n")
    defaults = load_sdk_defaults({"SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(tmp_path / "org")})
    assert defaults.get("SageMaker.Model.EnableNetworkIsolation") is True


def test_schema_version_is_required_as_by_the_sdk(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "SageMaker: {}\n")
    with pytest.raises(UsageError, match="'SchemaVersion' is a required property"):
        load_sdk_defaults({"SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(path)})


def test_a_missing_override_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        load_sdk_defaults({"SAGEMAKER_USER_CONFIG_OVERRIDE": str(tmp_path / "nope.yaml")})
    assert caught.value.where == "SAGEMAKER_USER_CONFIG_OVERRIDE" and "nope.yaml" in caught.value.what


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "SageMaker: [unclosed\n")
    with pytest.raises(UsageError) as caught:
        load_sdk_defaults({"SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(path)})
    assert caught.value.where == str(path) and caught.value.what.startswith("not valid YAML")


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "SageMaker: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_sdk_defaults({"SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(path)})


def test_a_misspelt_key_is_refused_by_the_sdks_schema(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "SchemaVersion: '1.0'\nSageMaker:\n  TrainingJob:\n    VpcConfg: {}\n")
    with pytest.raises(UsageError) as caught:
        load_sdk_defaults({"SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(path)})
    assert caught.value.what.startswith("SageMaker.TrainingJob: Additional properties are not allowed ('VpcConfg'")


def test_a_wrong_type_is_refused_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml",
                 "SchemaVersion: '1.0'\nSageMaker:\n  TrainingJob:\n    EnableNetworkIsolation: sometimes\n")
    with pytest.raises(UsageError) as caught:
        load_sdk_defaults({"SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(path)})
    assert caught.value.what.startswith("SageMaker.TrainingJob.EnableNetworkIsolation:")


def test_a_list_at_the_top_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "- a\n- b\n")
    with pytest.raises(UsageError, match="must hold a mapping"):
        load_sdk_defaults({"SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(path)})


def defaults_from(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    return load_sdk_defaults({"SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(write(tmp_path / "c.yaml", text))})


def test_processing_and_transform_requests_take_their_blocks(tmp_path: Path) -> None:
    defaults = defaults_from(tmp_path, """
SchemaVersion: '1.0'
SageMaker:
  ProcessingJob:
    RoleArn: arn:aws:iam::123456789012:role/P
    NetworkConfig: {EnableNetworkIsolation: true}
    ProcessingOutputConfig: {KmsKeyId: out-key}
    Tags: [{Key: t, Value: v}]
  TransformJob:
    Environment: {A: "1"}
    TransformResources: {VolumeKmsKeyId: vol}
""")
    processing = apply_sdk_defaults("CreateProcessingJob", {
        "RoleArn": "arn:aws:iam::1:role/Found", "ProcessingOutputConfig": {"Outputs": []}, "Tags": []}, defaults)
    assert processing.request["RoleArn"] == "arn:aws:iam::123456789012:role/P"
    assert processing.request["NetworkConfig"] == {"EnableNetworkIsolation": True}
    assert processing.request["ProcessingOutputConfig"] == {"Outputs": [], "KmsKeyId": "out-key"}
    assert processing.request["Tags"] == [{"Key": "t", "Value": "v"}]
    assert len(processing.notes) == 4
    explicit = apply_sdk_defaults("CreateProcessingJob", {"RoleArn": "arn:aws:iam::1:role/Mine"}, defaults,
                                  explicit={"RoleArn"})
    assert explicit.request["RoleArn"] == "arn:aws:iam::1:role/Mine"
    transform = apply_sdk_defaults("CreateTransformJob", {"TransformResources": {"InstanceType": "ml.m5.large"}},
                                   defaults)
    assert transform.request == {"Environment": {"A": "1"},
                                 "TransformResources": {"InstanceType": "ml.m5.large", "VolumeKmsKeyId": "vol"}}


def test_production_variants_merge_item_by_item_unless_a_core_dump_lacks_its_destination(tmp_path: Path) -> None:
    defaults = defaults_from(tmp_path, """
SchemaVersion: '1.0'
SageMaker:
  EndpointConfig:
    ProductionVariants:
      - CoreDumpConfig: {KmsKeyId: dump-key}
""")
    request = {"ProductionVariants": [{"VariantName": "AllTraffic", "InstanceType": "ml.m5.large"}]}
    assert apply_sdk_defaults("CreateEndpointConfig", request, defaults).request == request
    request["ProductionVariants"][0]["CoreDumpConfig"] = {"DestinationS3Uri": "s3://b/dumps"}
    merged = apply_sdk_defaults("CreateEndpointConfig", request, defaults).request
    assert merged["ProductionVariants"][0]["CoreDumpConfig"] == {"KmsKeyId": "dump-key",
                                                                "DestinationS3Uri": "s3://b/dumps"}


@pytest.mark.parametrize(("instance", "supported"), [("ml.m5.large", True), ("ml.c5d.xlarge", False),
                                                     ("ml.g5.xlarge", False), ("local", False),
                                                     ("ml.p4d.24xlarge", False), ("ml.trn1.2xlarge", False)])
def test_which_instances_take_a_volume_key(instance: str, supported: bool) -> None:
    assert instance_supports_kms(instance) is supported

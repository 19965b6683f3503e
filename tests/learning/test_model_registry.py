"""The model registry against moto's SageMaker: a release is registered waiting for approval, and
the config refuses a modelVersion (or canary) until its package is Approved, saying how to approve
it; the same check from a shell. (The group itself: tests/learning/test_training_job.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from delivery.model_registry import approved_versions, check, main, register
from stacks.config import ConfigError
from tests.support.pulumi_harness import REPO, run_program

GROUP = "mlops-prod-wine"


@pytest.fixture
def sagemaker() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("sagemaker", region_name="us-east-1")
        client.create_model_package_group(ModelPackageGroupName=GROUP)
        yield client


def _register(sagemaker: Any, version: str) -> str:
    return register(
        sagemaker,
        group=GROUP,
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-prod-model-service:abc",
        model_data_url=f"s3://mlops-prod-models/wine/{version}/model.tar.gz",
        report_uri=f"s3://mlops-prod-models/wine/{version}/gate.json",
        dataset="s3://mlops-prod-datasets/wine/20261206T120000Z-abcd1234/",
    )


def test_only_an_approved_package_may_be_served(sagemaker: Any) -> None:
    arn = _register(sagemaker, "v2")
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith("/wine/v2/gate.json")
    refused = check(sagemaker, GROUP, "v2")
    assert refused is not None and "not an Approved package" in refused and "update-model-package" in refused
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    assert check(sagemaker, GROUP, "v2") is None
    assert approved_versions(sagemaker, GROUP) == {"v2": arn}
    assert "approved: v2" in (check(sagemaker, GROUP, "v3") or "")
    assert check(sagemaker, GROUP, "") is None  # nothing served yet


def test_the_cli_check_fails_the_preview_for_an_unapproved_version(
    sagemaker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _register(sagemaker, "v1")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"modelPackageGroup": GROUP}))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  mlops-platform:modelVersion: v1\n")
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert main(["check", "--stack", "prod", "--outputs", str(outputs)]) == 1
    assert "modelVersion v1 is not an Approved package" in capsys.readouterr().err
    (arn,) = [
        p["ModelPackageArn"]
        for p in sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    ]
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    assert main(["check", "--stack", "prod", "--outputs", str(outputs)]) == 0


def test_register_refuses_what_is_not_a_published_archive(sagemaker: Any) -> None:
    with pytest.raises(ValueError, match="not a published model archive"):
        register(
            sagemaker,
            group=GROUP,
            image_uri="i",
            model_data_url="s3://b/model.onnx",
            report_uri="s3://b/r",
            dataset="d",
        )


def test_the_config_refuses_to_serve_an_unapproved_version() -> None:
    """The program reads the registry when it runs: a preview of a pull request that pins an
    unapproved version fails with the reason, the canary's too; a stack may opt out."""
    with pytest.raises(
        ConfigError, match=r"modelVersion.*v2 is not an Approved package of the model registry mlops-prod-wine"
    ):
        run_program("prod", overrides={"modelVersion": "v2"}, approved=("v1",))
    with pytest.raises(ConfigError, match=r"modelCanaryVersion.*v3 is not an Approved package"):
        run_program("prod", overrides={"modelVersion": "v1", "modelCanaryVersion": "v3"}, approved=("v1",))
    run = run_program("prod", overrides={"modelVersion": "v2", "modelRegistryApproval": False}, approved=())
    assert run.outputs["modelPackageGroup"] == "mlops-prod-wine"

"""Retraining as a SageMaker training job: the image's `train-job` entry point runs for real on a
small dataset version laid out as SageMaker lays out a job; the launcher's request is exactly
what the job needs (botocore's Stubber stands in for SageMaker, moto for S3) and its output is
published where the service loads models; the job's role (under mocks) reads and writes only its
prefixes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from sklearn.datasets import load_wine

from delivery.training_job import TrainingJobFailedError, TrainingJobSpec, job_request, run
from model_service.artifact import load_model
from model_service.dataset_format import dataset_csv
from tests.support.pulumi_harness import run_program

DATASET_URI = "s3://mlops-dev-datasets/wine/20261206T120000Z-abcd1234/"


def _job_root(tmp_path: Path, hyperparameters: dict[str, str]) -> Path:
    """/opt/ml as SageMaker prepares it: the dataset version in the training channel."""
    root = tmp_path / "opt-ml"
    channel = root / "input" / "data" / "training"
    channel.mkdir(parents=True)
    wine = load_wine()
    names = [str(n) for n in wine.target_names]
    rows = [(row, names[t], "reference") for row, t in zip(wine.data, wine.target, strict=True)]
    body = dataset_csv([str(n) for n in wine.feature_names], rows)
    (channel / "data.csv").write_bytes(body)
    manifest = {"version": "v-small", "uri": DATASET_URI, "sha256": hashlib.sha256(body).hexdigest()}
    (channel / "manifest.json").write_text(json.dumps(manifest))
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return root


def _train_job(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_service", "train-job"],
        env={**os.environ, "SM_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One successful run of the entry point, as a job would run it."""
    root = _job_root(tmp_path_factory.mktemp("job"), {"seed": "7", "min_accuracy": "0.8"})
    return root, _train_job(root)


def test_the_entry_point_trains_on_the_channel_and_leaves_a_servable_model(
    job: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    root, done = job
    assert done.returncode == 0, done.stderr
    model_dir = root / "model"
    assert sorted(p.name for p in model_dir.iterdir()) == ["drift_reference.json", "metadata.json", "model.onnx"]
    model = load_model(model_dir)
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["training"]["dataset"] == DATASET_URI and metadata["training"]["seed"] == 7
    assert json.loads(done.stdout)["version"] == model.version
    assert not (root / "output" / "failure").exists()


@pytest.mark.parametrize(
    ("hyperparameters", "status", "reason"),
    [
        ({"min_accuracy": "1.01"}, 3, "QualityGateError: held-out accuracy"),
        ({"learning_rate": "0.1"}, 2, "unknown hyperparameters ['learning_rate']"),
        ({"seed": "seven"}, 2, "bad hyperparameter value"),
    ],
)
def test_a_failed_job_tells_sagemaker_why(
    tmp_path: Path, hyperparameters: dict[str, str], status: int, reason: str
) -> None:
    root = _job_root(tmp_path, hyperparameters)
    assert _train_job(root).returncode == status
    assert reason in (root / "output" / "failure").read_text()
    assert not (root / "model").exists()


SPEC = TrainingJobSpec(
    role_arn="arn:aws:iam::123456789012:role/training",
    image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-dev-model-service:abc123",
    instance_type="ml.m5.large",
    spot=True,
    output_uri="s3://mlops-dev-models/training",
)


def _packed(model_dir: Path) -> bytes:
    """What SageMaker makes of /opt/ml/model: model.tar.gz with the files at its root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return buffer.getvalue()


def _stubbed(
    status: str, hyperparameters: dict[str, str], artifacts: str = "", reason: str = ""
) -> tuple[Any, Stubber]:
    """SageMaker expecting exactly the launcher's request, then reporting `status`."""
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    stubber = Stubber(sagemaker)
    request = job_request(SPEC, "wine-test", DATASET_URI, hyperparameters)
    stubber.add_response("create_training_job", {"TrainingJobArn": "arn:aws:sagemaker:::training-job/j"}, request)
    described: dict[str, Any] = {
        "TrainingJobName": "wine-test",
        "TrainingJobArn": "arn:aws:sagemaker:::training-job/j",
        "TrainingJobStatus": status,
        "SecondaryStatus": status,
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": "2026-12-06T12:00:00Z",
        "ModelArtifacts": {"S3ModelArtifacts": artifacts},
    }
    if reason:
        described["FailureReason"] = reason
    for _ in range(2):  # the waiter's poll, then the result
        stubber.add_response("describe_training_job", described, {"TrainingJobName": "wine-test"})
    return sagemaker, stubber


def test_the_request_reads_the_dataset_version_and_isolates_the_container() -> None:
    request = job_request(SPEC, "wine-test", DATASET_URI.rstrip("/"), {"min_accuracy": "0.9"})
    assert request["AlgorithmSpecification"]["ContainerEntrypoint"] == ["model-service", "train-job"]
    (channel,) = request["InputDataConfig"]
    assert channel["ChannelName"] == "training" and channel["DataSource"]["S3DataSource"]["S3Uri"] == DATASET_URI
    assert request["EnableManagedSpotTraining"] is True and request["EnableNetworkIsolation"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    on_demand = job_request(TrainingJobSpec(**{**SPEC.__dict__, "spot": False}), "j", DATASET_URI, {})
    assert "MaxWaitTimeInSeconds" not in on_demand["StoppingCondition"]


def test_a_completed_job_is_published_where_the_service_loads_models(
    job: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    root, done = job
    assert done.returncode == 0
    version = load_model(root / "model").version
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="mlops-dev-models")
        s3.put_object(
            Bucket="mlops-dev-models", Key="training/wine-test/output/model.tar.gz", Body=_packed(root / "model")
        )
        artifacts = "s3://mlops-dev-models/training/wine-test/output/model.tar.gz"
        sagemaker, stubber = _stubbed("Completed", {"min_accuracy": "0.8"}, artifacts)
        with stubber:
            published = run(
                sagemaker,
                s3,
                SPEC,
                dataset_uri=DATASET_URI,
                models_uri="s3://mlops-dev-models/wine",
                hyperparameters={"min_accuracy": "0.8"},
                name="wine-test",
            )
        assert published == version
        keys = {item["Key"] for item in s3.list_objects_v2(Bucket="mlops-dev-models", Prefix="wine/")["Contents"]}
        assert keys == {f"wine/{version}/{name}" for name in ("model.tar.gz", "metadata.json", "drift_reference.json")}


def test_a_failed_job_raises_its_reason_and_publishes_nothing() -> None:
    sagemaker, stubber = _stubbed("Failed", {}, reason="QualityGateError: held-out accuracy 0.8 is below 0.95")
    with stubber, pytest.raises(TrainingJobFailedError, match="wine-test Failed: QualityGateError"):
        run(
            sagemaker,
            None,
            SPEC,
            dataset_uri=DATASET_URI,
            models_uri="s3://m/wine",
            hyperparameters={},
            name="wine-test",
        )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_training_role_reads_datasets_and_writes_only_its_output(stack: str) -> None:
    run_ = run_program(stack)
    # The stack's model registry is made beside it (delivery/model_registry.py registers there).
    group = run_.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup").inputs
    assert group["modelPackageGroupName"] == run_.outputs["modelPackageGroup"] == f"mlops-{stack}-wine"
    settings = run_.outputs["trainingJob"]
    assert settings["spot"] is (stack == "dev") and settings["instanceType"] == "ml.m5.large"
    assert settings["outputUri"] == f"s3://{run_.outputs['modelsBucket']}/training"
    role = run_.one("aws:iam/role:Role", "training-role").inputs
    assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    policy = json.loads(run_.one("aws:iam/rolePolicy:RolePolicy", "training-role").inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    buckets = run_.outputs["bucketNames"]
    assert statements["ReadDatasets"]["Resource"] == [f"arn:aws:s3:::{buckets['datasets']}/wine/*"]
    assert statements["WriteModelOutput"]["Resource"] == [f"arn:aws:s3:::{buckets['models']}/training/*"]
    assert statements["WriteModelOutput"]["Action"] == ["s3:PutObject"]

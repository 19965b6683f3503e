"""Training: deterministic, gated on accuracy, a complete artifact, S3 upload and download."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from model_service.artifact import ModelLoadError, load_model, resolve_model_dir
from model_service.drift import DriftReference
from model_service.training import ARCHIVE_MEMBERS, QualityGateError, TrainingOptions, train, upload


def test_training_is_deterministic_for_a_seed(tmp_path: Path, artifact: Path) -> None:
    again = train(TrainingOptions(output=tmp_path))
    first = json.loads((artifact / "metadata.json").read_text())
    second = json.loads((again / "metadata.json").read_text())
    assert first["model_sha256"] == second["model_sha256"]
    assert first["metrics"] == second["metrics"]
    assert (tmp_path / "latest").resolve() == again.resolve()


def test_artifact_holds_model_metadata_drift_reference_and_a_sagemaker_archive(artifact: Path) -> None:
    metadata = json.loads((artifact / "metadata.json").read_text())
    assert metadata["version"] == artifact.name
    assert metadata["metrics"]["accuracy"] >= 0.9
    assert len(metadata["feature_names"]) == 13
    assert {"scikit-learn", "numpy", "python", "skl2onnx"} <= set(metadata["libraries"])
    with tarfile.open(artifact / "model.tar.gz") as archive:
        assert sorted(archive.getnames()) == sorted(ARCHIVE_MEMBERS)  # at the root, as SageMaker unpacks it
    drift = DriftReference.from_json(json.loads((artifact / "drift_reference.json").read_text()))
    assert [f.name for f in drift.features] == metadata["feature_names"]
    for feature in drift.features:
        assert 2 <= feature.bin_count <= 8
        assert sum(feature.shares) == pytest.approx(1.0)
        assert list(feature.edges) == sorted(feature.edges)
    assert sum(drift.class_shares.values()) == pytest.approx(1.0)


def test_quality_gate_refuses_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(QualityGateError, match=r"held-out accuracy 1\.000 is below the quality gate 1\.010"):
        train(TrainingOptions(output=tmp_path / "out", min_accuracy=1.01))
    assert not (tmp_path / "out").exists()


def test_cli_exit_code_and_message_for_the_quality_gate(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "model_service", "train", "--output", str(tmp_path), "--min-accuracy", "1.5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3
    assert "quality gate failed" in result.stderr and "nothing was written" in result.stderr


@mock_aws
def test_upload_and_serve_from_s3(artifact: Path, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="models")
    written = upload(artifact, "s3://models/wine", s3_client=s3)
    version = artifact.name
    assert written == [
        f"s3://models/wine/{version}/{name}" for name in ("model.tar.gz", "metadata.json", "drift_reference.json")
    ]
    from model_service import artifact as artifact_module

    archive = artifact_module.fetch_s3_archive(f"s3://models/wine/{version}", tmp_path / "work", s3_client=s3)
    model = load_model(artifact_module.unpack(archive, tmp_path / "work"))
    assert model.version == version
    with pytest.raises(ModelLoadError, match=r"could not download s3://models/missing/model\.tar\.gz"):
        artifact_module.fetch_s3_archive("s3://models/missing/model.tar.gz", tmp_path / "w2", s3_client=s3)


def test_upload_refuses_a_destination_that_is_not_s3(artifact: Path) -> None:
    with pytest.raises(ValueError, match="s3://bucket"):
        upload(artifact, "/tmp/elsewhere")


def test_a_directory_with_only_the_archive_is_unpacked(artifact: Path, tmp_path: Path) -> None:
    only_archive = tmp_path / "opt-ml-model"
    only_archive.mkdir()
    (only_archive / "model.tar.gz").write_bytes((artifact / "model.tar.gz").read_bytes())
    model = load_model(resolve_model_dir(only_archive, None, tmp_path / "work"))
    rows = np.asarray(json.loads((artifact / "metadata.json").read_text())["validation"]["rows"])
    assert model.predict_proba(rows).shape == (len(rows), 3)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda m: m.pop("feature_names"), "lacks ['feature_names']"),
        (lambda m: m.update(model_sha256="0" * 64), "does not match the sha256"),
        (lambda m: m["feature_names"].pop(), "the model takes 13 features, metadata names 12"),
        (lambda m: m["validation"]["probabilities"][0].reverse(), "does not reproduce the validation predictions"),
    ],
)
def test_inconsistent_artifacts_are_refused(artifact: Path, tmp_path: Path, change, words: str) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "copy"
    copy.mkdir()
    for item in artifact.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    metadata = json.loads((copy / "metadata.json").read_text())
    change(metadata)
    (copy / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelLoadError) as caught:
        load_model(copy)
    assert words in str(caught.value)

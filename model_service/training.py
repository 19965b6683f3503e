"""Training: fit the wine classifier, gate it on held-out accuracy, write a versioned artifact.

The artifact directory holds everything the server needs and nothing else: the model as ONNX (what
is served, through ONNX Runtime), the fitted scikit-learn pipeline (joblib, for analysis), the
metadata the server validates the model against, the drift reference, and `model.tar.gz` laid out
the way SageMaker unpacks it into /opt/ml/model.
"""

from __future__ import annotations

import hashlib
import json
import platform
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from model_service.artifact_files import ARCHIVE_FILE, DRIFT_FILE, METADATA_FILE, MODEL_FILE
from model_service.drift import DEFAULT_BINS, DriftReference

SKLEARN_FILE = "model.joblib"
ARCHIVE_MEMBERS = (MODEL_FILE, METADATA_FILE, DRIFT_FILE)
VALIDATION_ROWS = 8


class QualityGateError(Exception):
    """The model is below the accuracy the caller demanded; nothing was written."""


@dataclass(frozen=True)
class TrainingOptions:
    output: Path
    model_name: str = "wine-classifier"
    seed: int = 42
    test_size: float = 0.25
    min_accuracy: float = 0.9
    bins: int = DEFAULT_BINS
    # A dataset version (learning/datasets.py: data.csv and manifest.json) to train on instead of
    # the bundled wine data; its version goes into the model's metadata.
    dataset: Path | None = None


def _fit(options: TrainingOptions) -> tuple[Any, dict[str, Any], np.ndarray, np.ndarray, Any]:
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    wine = load_wine()
    data, target = wine.data, wine.target
    if options.dataset is not None:
        data, target = _dataset_arrays(options.dataset, [str(n) for n in wine.feature_names], list(wine.target_names))
    x_train, x_test, y_train, y_test = train_test_split(
        data, target, test_size=options.test_size, random_state=options.seed, stratify=target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=options.seed))
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro")),
        "train_rows": len(x_train),
        "test_rows": len(x_test),
    }
    return model, metrics, x_train, x_test, wine


def _dataset_arrays(directory: Path, feature_names: list[str], class_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Features and class indices of a dataset version, refused unless it has the model's
    features in order and rows of all of its classes and no other."""
    from model_service.dataset_format import DatasetError, read_dataset

    dataset = read_dataset(directory)
    if dataset.feature_names != feature_names:
        raise DatasetError(f"{directory} has features {dataset.feature_names}; the model takes {feature_names}")
    unknown = sorted(set(dataset.labels) - set(class_names))
    if unknown:
        raise DatasetError(f"{directory} has labels {unknown} that are not classes of the model {class_names}")
    # A class without rows would leave the model without an output for it: the server refuses such
    # a model, so training refuses the dataset first.
    missing = [name for name in class_names if name not in set(dataset.labels)]
    if missing:
        raise DatasetError(f"{directory} has no rows of {missing}: every class of {class_names} needs some")
    return np.asarray(dataset.features, dtype=np.float64), np.asarray([class_names.index(x) for x in dataset.labels])


def _dataset_name(options: TrainingOptions) -> str:
    if options.dataset is None:
        return "sklearn.datasets.load_wine"
    from model_service.dataset_format import read_dataset

    return str(read_dataset(options.dataset).manifest["uri"])


def _to_onnx(model: Any, features: int) -> bytes:
    from skl2onnx import to_onnx

    # zipmap=False: probabilities come out as one float tensor, not a list of dicts.
    onnx_model = to_onnx(
        model, np.zeros((1, features), dtype=np.float64), options={id(model[-1]): {"zipmap": False}}, target_opset=17
    )
    return onnx_model.SerializeToString()


def train(options: TrainingOptions) -> Path:
    """Train, evaluate, enforce the quality gate, write `<output>/<version>/`; return that path.

    `<output>/latest` is pointed at the new version.
    """
    import joblib
    import skl2onnx
    import sklearn

    if not 0 < options.test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1, got {options.test_size}")
    model, metrics, x_train, x_test, wine = _fit(options)
    if metrics["accuracy"] < options.min_accuracy:
        raise QualityGateError(
            f"held-out accuracy {metrics['accuracy']:.3f} is below the quality gate {options.min_accuracy:.3f} "
            f"(seed {options.seed}, {metrics['test_rows']} test rows); nothing was written. Improve the model "
            "or lower --min-accuracy deliberately."
        )
    class_names = [str(name) for name in wine.target_names]
    onnx_bytes = _to_onnx(model, x_train.shape[1])
    trained_at = datetime.now(UTC).replace(microsecond=0)
    digest = hashlib.sha256(onnx_bytes).hexdigest()
    version = f"{trained_at:%Y%m%dT%H%M%SZ}-{digest[:8]}"
    drift = DriftReference.fit(
        x_train, wine.feature_names, [class_names[i] for i in model.predict(x_train)], bins=options.bins
    )
    validation_rows = x_test[:VALIDATION_ROWS]
    metadata = {
        "name": options.model_name,
        "version": version,
        "trained_at": trained_at.isoformat().replace("+00:00", "Z"),
        "feature_names": list(wine.feature_names),
        "class_names": class_names,
        "metrics": metrics,
        "training": {
            "seed": options.seed,
            "test_size": options.test_size,
            "min_accuracy": options.min_accuracy,
            "estimator": "StandardScaler + LogisticRegression",
            "dataset": _dataset_name(options),
        },
        "libraries": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "skl2onnx": skl2onnx.__version__,
        },
        # What the server accepts: values far outside these are refused (FEATURE_RANGE_TOLERANCE).
        "feature_ranges": [[float(low), float(high)] for low, high in zip(x_train.min(0), x_train.max(0), strict=True)],
        "model_file": MODEL_FILE,
        "model_sha256": digest,
        # The server refuses to become ready unless the ONNX model reproduces these.
        "validation": {
            "rows": validation_rows.tolist(),
            "probabilities": model.predict_proba(validation_rows).tolist(),
        },
    }

    target = options.output / version
    target.mkdir(parents=True, exist_ok=False)
    (target / MODEL_FILE).write_bytes(onnx_bytes)
    joblib.dump(model, target / SKLEARN_FILE)
    (target / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    (target / DRIFT_FILE).write_text(json.dumps(drift.to_json(), indent=2) + "\n")
    with tarfile.open(target / ARCHIVE_FILE, "w:gz") as archive:
        for member in ARCHIVE_MEMBERS:
            archive.add(target / member, arcname=member)
    latest = options.output / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(version)
    return target


def upload(artifact_dir: Path, destination: str, s3_client: Any | None = None) -> list[str]:
    """Copy the artifact to `s3://bucket/prefix/<version>/`; return the object URIs written."""
    if not destination.startswith("s3://") or len(destination) <= len("s3://"):
        raise ValueError(f"--upload needs an s3://bucket[/prefix] URI, got {destination!r}")
    bucket, _, prefix = destination.removeprefix("s3://").partition("/")
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    version = json.loads((artifact_dir / METADATA_FILE).read_text())["version"]
    written = []
    for name in (ARCHIVE_FILE, METADATA_FILE, DRIFT_FILE):
        key = "/".join(part for part in (prefix.strip("/"), version, name) if part)
        s3_client.upload_file(str(artifact_dir / name), bucket, key)
        written.append(f"s3://{bucket}/{key}")
    return written

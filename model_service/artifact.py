"""Loading a model artifact for serving, and refusing one that does not match its metadata."""

from __future__ import annotations

import hashlib
import json
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model_service.drift import DriftReference
from model_service.training import ARCHIVE_FILE, DRIFT_FILE, METADATA_FILE

VALIDATION_TOLERANCE = 1e-6


class ModelLoadError(Exception):
    """The artifact is missing, corrupt or inconsistent; the message says which and where."""


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    trained_at: str
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    drift: DriftReference
    libraries: dict[str, str]
    # (min, max) of each feature in the training data; None for artifacts written before they were recorded.
    feature_ranges: tuple[tuple[float, float], ...] | None
    _session: Any
    _input_name: str

    @property
    def feature_count(self) -> int:
        return len(self.feature_names)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities for a float64 array of shape (n, features)."""
        return self._session.run(["probabilities"], {self._input_name: rows})[0]


def fetch_s3_archive(uri: str, workdir: Path, s3_client: Any | None = None) -> Path:
    """Download `s3://bucket/key` (a model.tar.gz, or a prefix holding one) into `workdir`."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ModelLoadError(f"MODEL_URI must be s3://bucket/key/of/model.tar.gz, got {uri!r}")
    if not key.endswith(".tar.gz"):
        key = f"{key.rstrip('/')}/{ARCHIVE_FILE}"
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / ARCHIVE_FILE
    try:
        s3_client.download_file(bucket, key, str(target))
    except Exception as error:  # botocore raises several unrelated types; all mean "not fetched"
        raise ModelLoadError(f"could not download s3://{bucket}/{key}: {error}") from error
    return target


def unpack(archive: Path, workdir: Path) -> Path:
    target = workdir / "model"
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise ModelLoadError(f"{archive} is not a readable model.tar.gz: {error}") from error
    return target


def resolve_model_dir(model_dir: Path, model_uri: str | None, workdir: Path) -> Path:
    """The directory holding metadata.json: `model_dir` itself, its unpacked model.tar.gz, or the
    unpacked archive downloaded from `model_uri`."""
    if model_uri:
        return unpack(fetch_s3_archive(model_uri, workdir), workdir)
    if (model_dir / METADATA_FILE).is_file():
        return model_dir
    if (model_dir / ARCHIVE_FILE).is_file():
        return unpack(model_dir / ARCHIVE_FILE, workdir)
    raise ModelLoadError(
        f"no model in {model_dir}: expected {METADATA_FILE} with its model, or {ARCHIVE_FILE} "
        "(set MODEL_DIR, or MODEL_URI=s3://..., or run `model-service train`)"
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot read {path}: {error}") from error


def _feature_ranges(metadata: dict[str, Any], features: int) -> tuple[tuple[float, float], ...] | None:
    ranges = metadata.get("feature_ranges")
    if ranges is None:
        return None
    try:
        parsed = tuple((float(low), float(high)) for low, high in ranges)
    except (TypeError, ValueError) as error:
        raise ModelLoadError(f"feature_ranges must be [[min, max], ...]: {error}") from error
    if len(parsed) != features or any(not low <= high for low, high in parsed):
        raise ModelLoadError(f"feature_ranges must hold {features} [min, max] pairs with min <= max")
    return parsed


def accepted_bounds(model: LoadedModel, tolerance: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Lowest and highest value accepted per feature: the training range widened by `tolerance`
    times its width on each side (None: no ranges recorded, or an infinite tolerance)."""
    if model.feature_ranges is None or not np.isfinite(tolerance):
        return None
    ranges = np.asarray(model.feature_ranges, dtype=np.float64)
    width = np.maximum(ranges[:, 1] - ranges[:, 0], np.abs(ranges[:, 1]) * 1e-3 + 1e-9)
    return ranges[:, 0] - tolerance * width, ranges[:, 1] + tolerance * width


def load_model(directory: Path) -> LoadedModel:
    """Load and validate: checksum, tensor shapes, drift reference, and the validation rows the
    training run recorded must come out with the same probabilities."""
    import onnxruntime

    metadata = _read_json(directory / METADATA_FILE)
    missing = {
        "name",
        "version",
        "trained_at",
        "feature_names",
        "class_names",
        "model_file",
        "model_sha256",
        "validation",
    } - set(metadata)
    if missing:
        raise ModelLoadError(f"{directory / METADATA_FILE} lacks {sorted(missing)}")
    model_path = directory / metadata["model_file"]
    try:
        model_bytes = model_path.read_bytes()
    except OSError as error:
        raise ModelLoadError(f"cannot read the model file {model_path}: {error}") from error
    if hashlib.sha256(model_bytes).hexdigest() != metadata["model_sha256"]:
        raise ModelLoadError(
            f"{model_path} does not match the sha256 in its metadata: the artifact is corrupt "
            "or mixed from two versions"
        )

    options = onnxruntime.SessionOptions()
    # One thread: batches are small, and the server's event loop owns the core.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    feature_names = tuple(metadata["feature_names"])
    class_names = tuple(metadata["class_names"])
    model_input = session.get_inputs()[0]
    outputs = {output.name: output for output in session.get_outputs()}
    if model_input.shape[-1] != len(feature_names):
        raise ModelLoadError(f"the model takes {model_input.shape[-1]} features, metadata names {len(feature_names)}")
    if "probabilities" not in outputs or outputs["probabilities"].shape[-1] != len(class_names):
        raise ModelLoadError(f"the model must output 'probabilities' over {len(class_names)} classes")

    drift = DriftReference.from_json(_read_json(directory / DRIFT_FILE))
    if tuple(f.name for f in drift.features) != feature_names:
        raise ModelLoadError("the drift reference's features differ from the metadata's feature_names")

    model = LoadedModel(
        name=metadata["name"],
        version=metadata["version"],
        trained_at=metadata["trained_at"],
        feature_names=feature_names,
        class_names=class_names,
        drift=drift,
        libraries=dict(metadata.get("libraries", {})),
        feature_ranges=_feature_ranges(metadata, len(feature_names)),
        _session=session,
        _input_name=model_input.name,
    )
    rows = np.asarray(metadata["validation"]["rows"], dtype=np.float64)
    expected = np.asarray(metadata["validation"]["probabilities"], dtype=np.float64)
    got = model.predict_proba(rows)
    if got.shape != expected.shape or float(np.max(np.abs(got - expected))) > VALIDATION_TOLERANCE:
        raise ModelLoadError("the model does not reproduce the validation predictions recorded at training time")
    return model

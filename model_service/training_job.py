"""`model-service train-job`: training inside a SageMaker training job, by SageMaker's container
contract. The dataset version arrives in the `training` channel (/opt/ml/input/data/training:
data.csv and manifest.json), settings in /opt/ml/input/config/hyperparameters.json (all values are
strings there); the model goes to /opt/ml/model, which SageMaker packs into model.tar.gz: the
files at its root are the ones the service loads. A failure's reason goes to
/opt/ml/output/failure, where SageMaker shows it as the job's FailureReason.

The root (/opt/ml) can be moved with SM_ROOT, so the same entry point runs in a test.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from model_service.dataset_format import DatasetError
from model_service.training import DRIFT_FILE, METADATA_FILE, MODEL_FILE, QualityGateError, TrainingOptions, train

CHANNEL = "training"
# Hyperparameters the job accepts, with their types (SageMaker passes every value as a string).
HYPERPARAMETERS = {"seed": int, "test_size": float, "min_accuracy": float, "bins": int, "model_name": str}


def _hyperparameters(path: Path) -> dict[str, object]:
    raw = json.loads(path.read_text()) if path.is_file() else {}
    unknown = sorted(set(raw) - set(HYPERPARAMETERS))
    if unknown:
        raise ValueError(f"unknown hyperparameters {unknown}; known: {sorted(HYPERPARAMETERS)}")
    try:
        return {key: HYPERPARAMETERS[key](value) for key, value in raw.items()}
    except ValueError as error:
        raise ValueError(f"bad hyperparameter value: {error}") from error


def run(root: Path) -> int:
    failure = root / "output" / "failure"
    try:
        options = _hyperparameters(root / "input" / "config" / "hyperparameters.json")
        dataset = root / "input" / "data" / CHANNEL
        with tempfile.TemporaryDirectory(prefix="train-job-") as workdir:
            artifact = train(TrainingOptions(output=Path(workdir), dataset=dataset, **options))  # type: ignore[arg-type]
            model_dir = root / "model"
            model_dir.mkdir(parents=True, exist_ok=True)
            for name in (MODEL_FILE, METADATA_FILE, DRIFT_FILE):
                shutil.copy2(artifact / name, model_dir / name)
        version = json.loads((model_dir / METADATA_FILE).read_text())["version"]
        print(json.dumps({"message": "trained", "version": version, "dataset": str(dataset)}))
        return 0
    except (QualityGateError, DatasetError, ValueError, OSError) as error:
        failure.parent.mkdir(parents=True, exist_ok=True)
        failure.write_text(f"{type(error).__name__}: {error}"[:1024])
        print(f"training failed: {error}", file=sys.stderr)
        return 3 if isinstance(error, QualityGateError) else 2


def main() -> int:
    return run(Path(os.environ.get("SM_ROOT", "/opt/ml")))

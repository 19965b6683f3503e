"""Publish a model version and pin a stack to it: train (quality gate on), upload to the stack's
models bucket, `pulumi config set modelVersion`. The next `pulumi up` rolls the pods and the
SageMaker endpoint to it; the retrain workflow commits the changed stack file in a pull request.

    python -m delivery.release_model --stack dev [--min-accuracy 0.9]

Prints the new version alone on stdout (progress goes to stderr). Exit codes: 0 released,
3 the quality gate refused the model (nothing uploaded, config unchanged), 2 anything else.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from delivery.outputs import OutputsError, stack_outputs
from model_service.training import QualityGateError, TrainingOptions, train, upload
from stacks.platform import MODELS_PREFIX

EXIT_QUALITY_GATE = 3
EXIT_ERROR = 2


class ReleaseError(Exception):
    """The release cannot go on; the message says why and what to do."""


def release(
    stack: str,
    *,
    min_accuracy: float,
    work_dir: Path,
    outputs_file: Path | None = None,
    pulumi: str = "pulumi",
    s3_client: Any | None = None,
) -> str:
    """Train, upload and pin `stack` to the new version; return the version."""
    try:
        outputs = stack_outputs(stack, outputs_file, pulumi)
    except OutputsError as error:
        raise ReleaseError(str(error)) from None
    bucket = outputs.get("modelsBucket")
    if not bucket:
        raise ReleaseError(f"stack {stack!r} has no modelsBucket output: deploy it first (awsEnabled, pulumi up)")
    artifact = train(TrainingOptions(output=work_dir, min_accuracy=min_accuracy))
    for uri in upload(artifact, f"s3://{bucket}/{MODELS_PREFIX}", s3_client):
        print(f"uploaded {uri}", file=sys.stderr)
    version = artifact.name
    command = [pulumi, "config", "set", "mlops-platform:modelVersion", version, "--stack", stack]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ReleaseError(f"`{' '.join(command)}` failed: {result.stderr.strip()}")
    return version


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m delivery.release_model", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", required=True, help="stack to pin to the new version (dev, prod)")
    parser.add_argument("--min-accuracy", type=float, default=0.9, help="quality gate on held-out accuracy")
    parser.add_argument("--outputs", type=Path, help="saved `pulumi stack output --json` instead of asking the CLI")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="model-release-") as work_dir:
        try:
            version = release(
                args.stack, min_accuracy=args.min_accuracy, work_dir=Path(work_dir), outputs_file=args.outputs
            )
        except QualityGateError as error:
            print(f"quality gate refused the model: {error}", file=sys.stderr)
            return EXIT_QUALITY_GATE
        except ReleaseError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_ERROR
    print(f"stack {args.stack} now serves model {version} after `pulumi up`", file=sys.stderr)
    print(version)
    return 0


if __name__ == "__main__":
    sys.exit(main())

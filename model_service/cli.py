"""`model-service train`, `serve`, `publish` and `train-job` (a SageMaker training job's entry point)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model_service.settings import Settings, SettingsError

EXIT_QUALITY_GATE = 3


def _train(args: argparse.Namespace) -> int:
    from model_service.dataset_format import DatasetError
    from model_service.training import QualityGateError, TrainingOptions, train, upload

    options = TrainingOptions(
        output=args.output,
        model_name=args.name,
        seed=args.seed,
        test_size=args.test_size,
        min_accuracy=args.min_accuracy,
        bins=args.bins,
        dataset=args.dataset,
    )
    try:
        artifact = train(options)
    except QualityGateError as error:
        print(f"quality gate failed: {error}", file=sys.stderr)
        return EXIT_QUALITY_GATE
    except (ValueError, DatasetError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {artifact}")
    if args.upload:
        for uri in upload(artifact, args.upload):
            print(f"uploaded {uri}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from model_service.app import ModelServer
    from model_service.server import run

    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    run(ModelServer(settings), settings)
    return 0


def _train_job(_: argparse.Namespace) -> int:
    from model_service.training_job import main as train_job

    return train_job()


def _publish(args: argparse.Namespace) -> int:
    import tempfile

    from model_service.artifact import ModelLoadError, load_model, unpack
    from model_service.training import ARCHIVE_FILE, upload

    # Only an archive the service can load is published: unpacked and loaded as MODEL_URI would be.
    try:
        with tempfile.TemporaryDirectory(prefix="publish-") as workdir:
            load_model(unpack(args.source / ARCHIVE_FILE, Path(workdir)))
    except ModelLoadError as error:
        print(f"not publishing {args.source}: {error}", file=sys.stderr)
        return 2
    for uri in upload(args.source, args.destination):
        print(f"uploaded {uri}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="model-service", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train the wine classifier and write a versioned artifact")
    train.add_argument(
        "--output",
        type=Path,
        default=Path("artifacts/model"),
        help="directory that receives <version>/ and the `latest` link (default: artifacts/model)",
    )
    train.add_argument("--name", default="wine-classifier", help="model name served under /v2/models/<name>")
    train.add_argument("--seed", type=int, default=42, help="random seed for the split and the estimator")
    train.add_argument("--test-size", type=float, default=0.25, help="held-out share for evaluation")
    train.add_argument(
        "--min-accuracy",
        type=float,
        default=0.9,
        help="quality gate: refuse to write a model below this held-out accuracy",
    )
    train.add_argument("--bins", type=int, default=8, help="drift bins per feature (training quantiles)")
    train.add_argument("--upload", metavar="s3://bucket/prefix", help="also upload the artifact to S3")
    train.add_argument(
        "--dataset",
        type=Path,
        help="a downloaded dataset version (python -m learning dataset) instead of the bundled data",
    )
    train.set_defaults(run=_train)

    serve = commands.add_parser("serve", help="serve a model (settings from environment variables)")
    serve.set_defaults(run=_serve)

    train_job = commands.add_parser(
        "train-job", help="train inside a SageMaker training job (the training channel holds a dataset version)"
    )
    train_job.set_defaults(run=_train_job)

    publish = commands.add_parser(
        "publish",
        help="upload a trained artifact to s3://bucket/prefix/<version>/ (AWS_ENDPOINT_URL_S3 points at another S3)",
    )
    publish.add_argument("--from", dest="source", type=Path, required=True, help="the artifact's directory")
    publish.add_argument("--to", dest="destination", required=True, metavar="s3://bucket/prefix")
    publish.set_defaults(run=_publish)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))

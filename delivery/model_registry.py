"""The model registry: a SageMaker model package group per stack (components/model_registry.py).
Every release registers a package (the image, the artifact, the gate report and the dataset as
its metrics) waiting for approval; only an Approved package's version may be a stack's
`modelVersion`, which `check` enforces in the preview every pull request runs.

  register  put a published version in the group, PendingManualApproval
  check     exit 1 unless the stack's modelVersion is an Approved package of its group

A person approves in SageMaker Studio or with
`aws sagemaker update-model-package --model-package-arn <arn> --model-approval-status Approved`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model_service.artifact_files import ARCHIVE_FILE


def _version_of(model_data_url: str) -> str:
    """The version of an artifact URI `s3://bucket/<prefix>/<version>/model.tar.gz`."""
    parts = model_data_url.rstrip("/").split("/")
    if len(parts) < 5 or parts[-1] != ARCHIVE_FILE:
        raise ValueError(f"not a published model archive: {model_data_url!r}")
    return parts[-2]


def register(
    sagemaker: Any,
    *,
    group: str,
    image_uri: str,
    model_data_url: str,
    report_uri: str,
    dataset: str,
) -> str:
    """Register the published artifact `model_data_url` (served with `image_uri`) with its gate
    report (`report_uri`, JSON) as a package waiting for approval; return its ARN."""
    version = _version_of(model_data_url)
    answer = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"wine classifier {version}, trained on {dataset}"[:1000],
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": image_uri, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": ["application/json", "text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": report_uri}}},
        CustomerMetadataProperties={"model_version": version, "dataset": dataset[:256]},
    )
    return str(answer["ModelPackageArn"])


def approved_versions(sagemaker: Any, group: str) -> dict[str, str]:
    """Model version -> package ARN of every Approved package of `group`."""
    approved = {}
    paginator = sagemaker.get_paginator("list_model_packages")
    for page in paginator.paginate(ModelPackageGroupName=group, ModelApprovalStatus="Approved"):
        for summary in page["ModelPackageSummaryList"]:
            arn = summary["ModelPackageArn"]
            package = sagemaker.describe_model_package(ModelPackageName=arn)
            for container in package["InferenceSpecification"]["Containers"]:
                approved[_version_of(container["ModelDataUrl"])] = arn
    return approved


def check(sagemaker: Any, group: str, version: str) -> str | None:
    """None when `version` may be served (empty: nothing is served), else why not."""
    if not version:
        return None
    approved = approved_versions(sagemaker, group)
    if version in approved:
        return None
    known = ", ".join(sorted(approved)) or "none"
    return (
        f"modelVersion {version} is not an Approved package of the model registry {group} (approved: {known}). "
        "Approve its package after reviewing the retrain pull request's comparison: aws sagemaker "
        "update-model-package --model-package-arn <arn> --model-approval-status Approved"
    )


def stack_setting(stack: str, key: str, root: Path = Path()) -> str:
    """A project config value as the stack has it: Pulumi.<stack>.yaml, else Pulumi.yaml's default."""
    import yaml

    declared = yaml.safe_load((root / "Pulumi.yaml").read_text())["config"][key]
    values = yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text()).get("config") or {}
    return str(values.get(f"mlops-platform:{key}", declared.get("default", "")))


def main(argv: Sequence[str] | None = None) -> int:
    import boto3

    from delivery.outputs import stack_outputs

    parser = argparse.ArgumentParser(prog="python -m delivery.model_registry", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="the stack's modelVersion must be Approved")
    check_parser.add_argument("--stack", required=True)
    check_parser.add_argument("--outputs", type=Path, help="saved `pulumi stack output --json` instead of the CLI")
    register_parser = commands.add_parser("register", help="register a published version")
    register_parser.add_argument("--stack", required=True)
    register_parser.add_argument("--outputs", type=Path, help="saved `pulumi stack output --json` instead of the CLI")
    register_parser.add_argument("--version", required=True)
    register_parser.add_argument("--image-tag", help="default: the stack's modelServiceImageTag")
    register_parser.add_argument("--report", required=True, metavar="s3://.../gate.json")
    register_parser.add_argument("--dataset", default="sklearn.datasets.load_wine")
    args = parser.parse_args(argv)
    try:
        outputs = stack_outputs(args.stack, args.outputs)
        group = outputs["modelPackageGroup"]
        sagemaker = boto3.client("sagemaker")
        if args.command == "check":
            problem = check(sagemaker, group, stack_setting(args.stack, "modelVersion"))
            if problem:
                print(problem, file=sys.stderr)
                return 1
            return 0
        tag = args.image_tag or stack_setting(args.stack, "modelServiceImageTag")
        arn = register(
            sagemaker,
            group=group,
            image_uri=f"{outputs['modelServiceRepositoryUrl']}:{tag}",
            model_data_url=f"s3://{outputs['modelsBucket']}/wine/{args.version}/{ARCHIVE_FILE}",
            report_uri=args.report,
            dataset=args.dataset,
        )
        print(json.dumps({"modelPackageArn": arn}))
        return 0
    except (KeyError, ValueError, RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

"""Retrain where the data is: a SageMaker training job runs the model-service image's `train-job`
entry point on a dataset version (learning/datasets.py), then its model is published to the models
bucket in the layout the service and the endpoint load (`wine/<version>/`).

`python -m delivery.training_job --stack dev --dataset s3://<datasetsBucket>/wine/<version>/`
reads the stack's `trainingJob` and `modelServiceRepositoryUrl` outputs, prints the new version on
stdout and exits 0; 3 when the job failed (its FailureReason on stderr), 2 for anything else.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model_service.capture import parse_s3_uri
from model_service.training import ARCHIVE_FILE, DRIFT_FILE, METADATA_FILE

EXIT_FAILED = 3
CHANNEL = "training"


class TrainingJobFailedError(Exception):
    """The job ended without a model; the message is SageMaker's FailureReason."""


@dataclass(frozen=True)
class TrainingJobSpec:
    """What the stack provides (its `trainingJob` output) and the image to run."""

    role_arn: str
    image_uri: str
    instance_type: str
    spot: bool
    output_uri: str  # s3://<modelsBucket>/training
    max_runtime_seconds: int = 3600


def job_request(spec: TrainingJobSpec, name: str, dataset_uri: str, hyperparameters: dict[str, str]) -> dict[str, Any]:
    """CreateTrainingJob's request: the dataset version as the `training` channel, the image's
    train-job entry point, the output under the models bucket; spot with checkpoint-free retry
    where the stack allows it (a retrain can start again; it only costs time)."""
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": spec.max_runtime_seconds}
    if spec.spot:
        stopping["MaxWaitTimeInSeconds"] = spec.max_runtime_seconds * 2
    return {
        "TrainingJobName": name,
        "RoleArn": spec.role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": spec.image_uri,
            "TrainingInputMode": "File",
            "ContainerEntrypoint": ["model-service", "train-job"],
        },
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {
                "ChannelName": CHANNEL,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": dataset_uri.rstrip("/") + "/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": spec.output_uri},
        "ResourceConfig": {"InstanceType": spec.instance_type, "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": spec.spot,
        "EnableNetworkIsolation": True,
    }


def publish_output(s3: Any, artifacts_uri: str, models_uri: str) -> str:
    """Copy the job's model.tar.gz to `<models_uri>/<version>/` with its metadata and drift
    reference beside it (as `model-service train --upload` writes them); return the version."""
    bucket, key = parse_s3_uri(artifacts_uri)
    archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        members = {name: tar.extractfile(name) for name in (METADATA_FILE, DRIFT_FILE)}
        files = {name: member.read() for name, member in members.items() if member is not None}
    version = json.loads(files[METADATA_FILE])["version"]
    target_bucket, prefix = parse_s3_uri(models_uri)
    for name, body in ((ARCHIVE_FILE, archive), *files.items()):
        s3.put_object(Bucket=target_bucket, Key=f"{prefix}/{version}/{name}", Body=body)
    return str(version)


def run(
    sagemaker: Any,
    s3: Any,
    spec: TrainingJobSpec,
    *,
    dataset_uri: str,
    models_uri: str,
    hyperparameters: dict[str, str],
    name: str | None = None,
) -> str:
    """Start the job, wait for it, publish its model; return the model's version."""
    name = name or f"wine-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    sagemaker.create_training_job(**job_request(spec, name, dataset_uri, hyperparameters))
    from botocore.exceptions import WaiterError

    # A failed job ends the wait too (as a waiter error): its reason is read next.
    with contextlib.suppress(WaiterError):
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=name, WaiterConfig={"Delay": 30, "MaxAttempts": spec.max_runtime_seconds * 3 // 30}
        )
    job = sagemaker.describe_training_job(TrainingJobName=name)
    if job["TrainingJobStatus"] != "Completed":
        raise TrainingJobFailedError(
            f"{name} {job['TrainingJobStatus']}: {job.get('FailureReason', 'no reason given')}"
        )
    return publish_output(s3, job["ModelArtifacts"]["S3ModelArtifacts"], models_uri)


def main(argv: Sequence[str] | None = None) -> int:
    import boto3

    from delivery.outputs import stack_outputs

    parser = argparse.ArgumentParser(prog="python -m delivery.training_job", description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--dataset", required=True, metavar="s3://<datasetsBucket>/wine/<version>/")
    parser.add_argument("--image-tag", required=True, help="the model-service image tag to train with")
    parser.add_argument("--min-accuracy", default="0.9")
    args = parser.parse_args(argv)
    try:
        outputs = stack_outputs(args.stack)
        job = outputs["trainingJob"]
        spec = TrainingJobSpec(
            role_arn=job["roleArn"],
            image_uri=f"{outputs['modelServiceRepositoryUrl']}:{args.image_tag}",
            instance_type=job["instanceType"],
            spot=bool(job["spot"]),
            output_uri=job["outputUri"],
        )
        version = run(
            boto3.client("sagemaker"),
            boto3.client("s3"),
            spec,
            dataset_uri=args.dataset,
            models_uri=f"s3://{outputs['modelsBucket']}/wine",
            hyperparameters={"min_accuracy": args.min_accuracy},
        )
    except TrainingJobFailedError as error:
        print(f"training job failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (KeyError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(version)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

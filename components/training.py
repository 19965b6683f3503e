"""TrainingRole: what a SageMaker training job of this stack may do (delivery/training_job.py
starts the jobs): read dataset versions, write its output under `training/` of the models bucket,
pull the model-service image, write its own logs. Nothing else; with network isolation on, the
container itself reaches nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.artifact_store import StoredBucket
from components.iam import arn_partition, policy_document, service_role
from components.sagemaker_endpoint import ECR_PULL_ACTIONS

DATASETS_PREFIX = "wine"
OUTPUT_PREFIX = "training"


@dataclass(frozen=True)
class TrainingSpec:
    instance_type: str
    # Managed spot capacity (cheaper, may be interrupted; a retrain can start again).
    spot: bool


@dataclass(frozen=True)
class TrainingRoleArgs:
    spec: TrainingSpec
    name_prefix: str
    region: str
    account_id: pulumi.Input[str]
    datasets: StoredBucket
    models: StoredBucket
    repository_arn: pulumi.Input[str]


class TrainingRole(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    # The stack's `trainingJob` output: what delivery/training_job.py needs.
    settings: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, args: TrainingRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:delivery:TrainingRole", name, None, opts)
        partition = arn_partition(args.region)

        def document(values: list[str]) -> str:
            datasets_arn, datasets_key, models_arn, models_key, repository_arn, account = values
            log_group = f"arn:{partition}:logs:{args.region}:{account}:log-group:/aws/sagemaker/TrainingJobs"
            return policy_document(
                {
                    "Sid": "ReadDatasets",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": [f"{datasets_arn}/{DATASETS_PREFIX}/*"],
                },
                {
                    "Sid": "ListDatasets",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": [datasets_arn],
                    "Condition": {"StringLike": {"s3:prefix": [f"{DATASETS_PREFIX}/*"]}},
                },
                {
                    "Sid": "WriteModelOutput",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject"],
                    "Resource": [f"{models_arn}/{OUTPUT_PREFIX}/*"],
                },
                {"Sid": "DecryptDatasets", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [datasets_key]},
                {
                    "Sid": "EncryptModelOutput",
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey", "kms:Encrypt"],
                    "Resource": [models_key],
                },
                {"Sid": "PullImage", "Effect": "Allow", "Action": list(ECR_PULL_ACTIONS), "Resource": [repository_arn]},
                {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
                {
                    "Sid": "JobLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [log_group, f"{log_group}:*"],
                },
            )

        policy = pulumi.Output.all(
            args.datasets.arn,
            args.datasets.kms_key_arn,
            args.models.arn,
            args.models.kms_key_arn,
            args.repository_arn,
            args.account_id,
        ).apply(document)
        role, _ = service_role(
            f"{name}-role",
            service="sagemaker.amazonaws.com",
            description=f"SageMaker training jobs of {args.name_prefix}",
            inline_policy=policy,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.role_arn = role.arn
        self.settings = pulumi.Output.all(role.arn, args.models.name).apply(
            lambda values: {
                "roleArn": values[0],
                "instanceType": args.spec.instance_type,
                "spot": args.spec.spot,
                "outputUri": f"s3://{values[1]}/{OUTPUT_PREFIX}",
            }
        )
        self.register_outputs({"roleArn": self.role_arn})

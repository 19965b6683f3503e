"""Registry: ECR repositories for the platform's images."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


def lifecycle_policy(keep_images: int) -> str:
    """ECR lifecycle policy that keeps the newest `keep_images` images and expires the rest."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Keep the last {keep_images} images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_images},
                    "action": {"type": "expire"},
                }
            ]
        }
    )


@dataclass(frozen=True)
class RegistrySpec:
    """What a stack decides about its registry (read from config by stacks.config.registry)."""

    repositories: Sequence[str]
    keep_images: int


@dataclass(frozen=True)
class RegistryArgs:
    spec: RegistrySpec
    name_prefix: str
    force_delete: bool


class Registry(pulumi.ComponentResource):
    """One ECR repository per name, under `<name_prefix>/`: scanned on push, immutable tags,
    KMS-encrypted, with a lifecycle policy."""

    repository_urls: dict[str, pulumi.Output[str]]
    repository_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:registry:Registry", name, None, opts)
        self.repository_urls = {}
        self.repository_arns = {}
        for repository_name in args.spec.repositories:
            repository = aws.ecr.Repository(
                f"{name}-{repository_name.replace('/', '-')}",
                name=f"{args.name_prefix}/{repository_name}",
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS")],
                force_delete=args.force_delete,
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.ecr.LifecyclePolicy(
                f"{name}-{repository_name.replace('/', '-')}",
                repository=repository.name,
                policy=lifecycle_policy(args.spec.keep_images),
                opts=pulumi.ResourceOptions(parent=repository),
            )
            self.repository_urls[repository_name] = repository.repository_url
            self.repository_arns[repository_name] = repository.arn
        self.register_outputs({"repositoryUrls": self.repository_urls})

"""ModelRegistry: the stack's SageMaker model package group. Releases register packages in it
(delivery/model_registry.py) waiting for approval; only an approved package's version may be the
stack's modelVersion."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def package_group_name(name_prefix: str, model: str) -> str:
    return f"{name_prefix}-{model}"


class ModelRegistry(pulumi.ComponentResource):
    group_name: pulumi.Output[str]

    def __init__(self, name: str, name_prefix: str, model: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:delivery:ModelRegistry", name, None, opts)
        group = aws.sagemaker.ModelPackageGroup(
            f"{name}-group",
            model_package_group_name=package_group_name(name_prefix, model),
            model_package_group_description=f"Releases of the {model} model on {name_prefix}; approve one to serve it.",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.group_name = group.model_package_group_name
        self.register_outputs({"groupName": self.group_name})

"""What every add-on module shares: the cluster it installs into and the EKS-managed add-on."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import ServiceAccountRoles


@dataclass(frozen=True)
class ClusterHandle:
    """The cluster an add-on installs into: its component (the parent of every add-on resource),
    the prefix of child resource names, the EKS cluster name and its IRSA role maker."""

    component: pulumi.ComponentResource
    resource_prefix: str
    cluster_name: str
    irsa: ServiceAccountRoles


@dataclass(frozen=True)
class Addon:
    """One add-on: its name and how it is installed."""

    name: str
    install: Callable[[ClusterHandle, Sequence[pulumi.Resource]], pulumi.Resource]


def eks_managed_addon(
    cluster: ClusterHandle,
    addon_name: str,
    depends_on: Sequence[pulumi.Resource],
    service_account_role_arn: pulumi.Input[str] | None = None,
    configuration: dict[str, Any] | None = None,
) -> aws.eks.Addon:
    """An EKS-managed add-on at the version EKS defaults to for the cluster's Kubernetes version,
    with `configuration` (the add-on's configuration schema) as its values; EKS's configuration
    wins over hand edits on create and update."""
    return aws.eks.Addon(
        f"{cluster.resource_prefix}-{addon_name}",
        cluster_name=cluster.cluster_name,
        addon_name=addon_name,
        service_account_role_arn=service_account_role_arn,
        configuration_values=json.dumps(configuration) if configuration else None,
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        opts=pulumi.ResourceOptions(parent=cluster.component, depends_on=list(depends_on)),
    )


def managed_addon(addon_name: str) -> Addon:
    """An add-on that is an EKS-managed add-on and nothing more."""
    return Addon(addon_name, lambda cluster, depends_on: eks_managed_addon(cluster, addon_name, depends_on))

"""The Amazon VPC CNI: pod networking from VPC addresses, and NetworkPolicy enforcement (its
network policy agent), without which EKS accepts NetworkPolicies and enforces none."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components.addons.base import Addon, ClusterHandle, eks_managed_addon

NAME = "vpc-cni"
# The add-on's configuration schema takes the flag as a string.
CONFIGURATION = {"enableNetworkPolicy": "true"}


def install(cluster: ClusterHandle, depends_on: Sequence[pulumi.Resource]) -> pulumi.Resource:
    return eks_managed_addon(cluster, NAME, depends_on, configuration=CONFIGURATION)


ADDON = Addon(NAME, install)

"""The EBS CSI driver: gp3 volumes for PersistentVolumeClaims, with its own IRSA role."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components.addons.base import Addon, ClusterHandle, eks_managed_addon

NAME = "aws-ebs-csi-driver"
# The role EKS gives the driver's controller to create and attach volumes.
POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
SERVICE_ACCOUNT = ("kube-system", "ebs-csi-controller-sa")


def install(cluster: ClusterHandle, depends_on: Sequence[pulumi.Resource]) -> pulumi.Resource:
    role = cluster.irsa.role(
        f"{cluster.resource_prefix}-ebs-csi",
        namespace=SERVICE_ACCOUNT[0],
        service_account=SERVICE_ACCOUNT[1],
        managed_policy_arns=[POLICY],
        opts=pulumi.ResourceOptions(parent=cluster.component),
    )
    return eks_managed_addon(cluster, NAME, depends_on, service_account_role_arn=role.arn)


ADDON = Addon(NAME, install)

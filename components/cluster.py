"""Cluster: the EKS cluster, its node groups and core add-ons."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components import addons
from components.addons import ClusterHandle, ebs_csi
from components.addons.karpenter import NodePoolSpec
from components.encryption import rotating_key
from components.iam import ServiceAccountRoles, assume_role_policy

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
)

# Graviton families carry a `g` right after the generation digit (m7g, c6gn, t4g); a1 is arm too.
_ARM_FAMILY = re.compile(r"^(a1|[a-z]+\d+g[a-z]*)$")


def instance_architecture(instance_type: str) -> Literal["arm64", "x86_64"]:
    family = instance_type.split(".", 1)[0]
    return "arm64" if _ARM_FAMILY.match(family) else "x86_64"


def ami_type(instance_types: Sequence[str]) -> str:
    """The AL2023 AMI type for a node group; all its instance types must share one architecture."""
    architectures = {instance_architecture(name) for name in instance_types}
    if len(architectures) != 1:
        raise ValueError(f"instance types {list(instance_types)} mix architectures {sorted(architectures)}")
    return "AL2023_ARM_64_STANDARD" if architectures == {"arm64"} else "AL2023_x86_64_STANDARD"


CapacityType = Literal["ON_DEMAND", "SPOT"]


@dataclass(frozen=True)
class NodeGroupSpec:
    instance_types: Sequence[str]
    min_size: int
    max_size: int
    desired_size: int
    capacity_type: CapacityType


@dataclass(frozen=True)
class ClusterSpec:
    """What a stack decides about its cluster (read from config by stacks.config.cluster)."""

    kubernetes_version: str
    endpoint_public_access: bool
    public_access_cidrs: Sequence[str]
    deletion_protection: bool
    system_nodes: NodeGroupSpec
    workload_nodes: NodeGroupSpec
    # What Karpenter may add beyond the node groups.
    node_pool: NodePoolSpec
    admin_role_arns: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class ClusterArgs:
    spec: ClusterSpec
    name: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[Sequence[str]]
    public_subnet_ids: pulumi.Input[Sequence[str]]
    log_retention_days: int


class Cluster(pulumi.ComponentResource):
    """EKS in private subnets: OIDC (IRSA), API access entries, encrypted secrets, logging,
    a `system` and a `workloads` managed node group, the add-ons of `components.addons` and a gp3
    default StorageClass.
    """

    name: str
    kubeconfig: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_provider_url: pulumi.Output[str]
    irsa: ServiceAccountRoles
    kubernetes_provider: k8s.Provider
    # The role every node runs as, managed node groups' and Karpenter's alike.
    node_role_arn: pulumi.Output[str]
    node_role_name: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:cluster:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.name = args.name

        secrets_key = rotating_key(
            f"{name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in {args.name}",
            alias=f"{args.name}-secrets",
            opts=child,
        )
        # EKS writes control-plane logs here; creating the group first sets its retention.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{args.name}/cluster",
            retention_in_days=args.log_retention_days,
            opts=child,
        )

        access_entries = {
            f"admin-{index}": eks.AccessEntryArgs(
                principal_arn=arn,
                access_policies={
                    "cluster-admin": eks.AccessPolicyAssociationArgs(
                        policy_arn=CLUSTER_ADMIN_POLICY,
                        access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                    )
                },
            )
            for index, arn in enumerate(args.spec.admin_role_arns)
        }
        cluster = eks.Cluster(
            f"{name}-eks",
            name=args.name,
            version=args.spec.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            public_subnet_ids=args.public_subnet_ids,
            node_associate_public_ip_address=False,
            endpoint_private_access=True,
            endpoint_public_access=args.spec.endpoint_public_access,
            public_access_cidrs=list(args.spec.public_access_cidrs),
            authentication_mode=eks.AuthenticationMode.API,
            access_entries=access_entries,
            create_oidc_provider=True,
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            encryption_config_key_arn=secrets_key.arn,
            deletion_protection=args.spec.deletion_protection,
            # Node groups and every core add-on are managed below, as EKS managed resources.
            skip_default_node_group=True,
            bootstrap_self_managed_addons=False,
            use_default_vpc_cni=True,
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(enabled=False),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )
        self.oidc_provider_arn = cluster.oidc_provider_arn
        self.oidc_provider_url = cluster.oidc_provider_url
        self.irsa = ServiceAccountRoles(self.oidc_provider_arn, self.oidc_provider_url)
        handle = ClusterHandle(self, name, args.name, self.irsa)
        installed = {addon.name: addon.install(handle, [cluster]) for addon in addons.BEFORE_NODES}

        node_role = aws.iam.Role(
            f"{name}-nodes",
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
            description=f"Managed node groups of {args.name}",
            opts=child,
        )
        self.node_role_arn, self.node_role_name = node_role.arn, node_role.name
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-nodes-{index}",
                role=node_role.name,
                policy_arn=policy,
                opts=pulumi.ResourceOptions(parent=node_role),
            )
            for index, policy in enumerate(NODE_POLICIES)
        ]
        node_groups = [
            self._node_group(
                name,
                role_name,
                spec,
                args=args,
                node_role=node_role,
                depends_on=[cluster, *installed.values(), *attachments],
            )
            for role_name, spec in (("system", args.spec.system_nodes), ("workloads", args.spec.workload_nodes))
        ]
        installed.update({addon.name: addon.install(handle, node_groups) for addon in addons.AFTER_NODES})

        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig_json)
        self.kubernetes_provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig, opts=pulumi.ResourceOptions(parent=self, depends_on=node_groups)
        )
        k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="gp3",
                annotations={"storageclass.kubernetes.io/is-default-class": "true"},
            ),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "fsType": "ext4"},
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            opts=pulumi.ResourceOptions(
                parent=self, provider=self.kubernetes_provider, depends_on=[installed[ebs_csi.NAME]]
            ),
        )

        self.register_outputs(
            {
                "name": args.name,
                "kubeconfig": self.kubeconfig,
                "oidcProviderArn": self.oidc_provider_arn,
                "oidcProviderUrl": self.oidc_provider_url,
            }
        )

    def _node_group(
        self,
        name: str,
        role_name: str,
        spec: NodeGroupSpec,
        *,
        args: ClusterArgs,
        node_role: aws.iam.Role,
        depends_on: list[pulumi.Resource],
    ) -> aws.eks.NodeGroup:
        return aws.eks.NodeGroup(
            f"{name}-{role_name}",
            cluster_name=args.name,
            node_group_name_prefix=f"{role_name}-",
            node_role_arn=node_role.arn,
            subnet_ids=args.private_subnet_ids,
            instance_types=list(spec.instance_types),
            ami_type=ami_type(spec.instance_types),
            capacity_type=spec.capacity_type,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=spec.min_size,
                max_size=spec.max_size,
                desired_size=spec.desired_size,
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels={"mlops.platform/node-role": role_name},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on,
                # The cluster autoscaler moves desired_size; a later `pulumi up` must not undo that.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

"""Config of the cluster area: Kubernetes version, API access, admins, node groups."""

from __future__ import annotations

import re

from components.addons.karpenter import CapacityKind, NodePoolSpec
from components.cluster import CapacityType, ClusterSpec, NodeGroupSpec, instance_architecture
from stacks.config.aws_catalog import check_allowed_range, check_instance_type
from stacks.config.reader import Reader, choices

_IAM_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_K8S_VERSION = re.compile(r"^1\.\d{2}$")


def read(reader: Reader, aws_enabled: bool) -> ClusterSpec:
    kubernetes_version = reader.string("kubernetesVersion")
    if kubernetes_version and not _K8S_VERSION.match(kubernetes_version):
        reader.problem("kubernetesVersion", kubernetes_version, "must be a minor version such as 1.33")
    public_cidrs = reader.string_list("clusterPublicAccessCidrs")
    reader.each("clusterPublicAccessCidrs", public_cidrs, check_allowed_range("the cluster API"))
    endpoint_public_access = reader.boolean("clusterEndpointPublicAccess")
    if aws_enabled and endpoint_public_access and not public_cidrs:
        reader.problem(
            "clusterPublicAccessCidrs",
            [],
            "needs your VPN or office ranges while clusterEndpointPublicAccess is true "
            "(or set that to false to reach the API from inside the VPC only)",
        )
    admin_roles = reader.string_list("clusterAdminRoleArns")
    reader.each(
        "clusterAdminRoleArns",
        admin_roles,
        lambda arn: (
            None if _IAM_ROLE_ARN.match(arn) else "is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)"
        ),
    )
    return ClusterSpec(
        kubernetes_version=kubernetes_version,
        endpoint_public_access=endpoint_public_access,
        public_access_cidrs=public_cidrs,
        admin_role_arns=admin_roles,
        deletion_protection=reader.boolean("clusterDeletionProtection"),
        system_nodes=_node_group(reader, "system", None),
        workload_nodes=_node_group(reader, "workloads", "workloadsCapacityType"),
        node_pool=_node_pool(reader),
    )


def _node_pool(reader: Reader) -> NodePoolSpec:
    capacity = reader.string_list("karpenterCapacityTypes")
    allowed = choices(CapacityKind)
    if not capacity:
        reader.problem("karpenterCapacityTypes", [], f"needs at least one of {', '.join(allowed)}")
    reader.each(
        "karpenterCapacityTypes",
        capacity,
        lambda kind: None if kind in allowed else f"must be one of {', '.join(allowed)}",
    )
    return NodePoolSpec(
        capacity_types=capacity,  # type: ignore[arg-type]
        cpu_limit=reader.integer("karpenterCpuLimit", minimum=0, maximum=10000),
        memory_limit_gi=reader.integer("karpenterMemoryLimitGi", minimum=0, maximum=100000),
    )


def _node_group(reader: Reader, prefix: str, capacity_key: str | None) -> NodeGroupSpec:
    instance_key = f"{prefix}NodeInstanceTypes"
    instance_types = reader.string_list(instance_key)
    if not instance_types:
        reader.problem(instance_key, list(instance_types), "must name at least one instance type")
    reader.each(instance_key, instance_types, check_instance_type)
    if len({instance_architecture(name) for name in instance_types}) > 1:
        reader.problem(
            instance_key,
            list(instance_types),
            "mixes arm64 (Graviton) and x86_64 types; a node group runs one architecture",
        )
    min_size = reader.integer(f"{prefix}NodeMinSize", minimum=0)
    max_size = reader.integer(f"{prefix}NodeMaxSize", minimum=1)
    desired_size = reader.integer(f"{prefix}NodeDesiredSize", minimum=0)
    if min_size > max_size:
        reader.range_order(f"{prefix}NodeMinSize", min_size, f"{prefix}NodeMaxSize", max_size)
    elif not min_size <= desired_size <= max_size:
        reader.problem(
            f"{prefix}NodeDesiredSize",
            desired_size,
            f"must lie between {prefix}NodeMinSize ({min_size}) and {prefix}NodeMaxSize ({max_size})",
        )
    capacity: CapacityType = reader.choice(capacity_key, CapacityType) if capacity_key else "ON_DEMAND"
    return NodeGroupSpec(instance_types, min_size, max_size, desired_size, capacity)

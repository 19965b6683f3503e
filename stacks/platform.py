"""Composition: builds the components in dependency order and returns the stack outputs.

The output names are a contract that CI jobs and people read (`pulumi stack output --json`); they
are documented in the README and a test fails if one disappears or is renamed.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.artifact_store import ArtifactStore, ArtifactStoreArgs
from components.cluster import Cluster, ClusterArgs, NodeGroupSpec
from components.network import Network, NetworkArgs
from components.registry import Registry, RegistryArgs
from stacks.config import NodeGroupConfig, StackConfig


def _node_group_spec(config: NodeGroupConfig) -> NodeGroupSpec:
    return NodeGroupSpec(
        config.instance_types, config.min_size, config.max_size, config.desired_size, config.capacity_type
    )


def build_aws(config: StackConfig) -> dict[str, Any]:
    """The AWS core: network, cluster, registry and artifact store."""
    assert config.region is not None  # guaranteed by stacks.config when aws_enabled
    provider = aws.Provider(
        "aws",
        region=config.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=config.tags),
    )
    with_aws = pulumi.ResourceOptions(providers={"aws": provider})
    cluster_name = f"{config.name_prefix}-eks"

    network = Network(
        "network",
        NetworkArgs(
            name_prefix=config.name_prefix,
            region=config.region,
            vpc_cidr=config.network.vpc_cidr,
            availability_zones=config.network.availability_zones,
            nat_gateways=config.network.nat_gateways,
            flow_logs=config.network.flow_logs,
            log_retention_days=config.log_retention_days,
            cluster_name=cluster_name,
        ),
        opts=with_aws,
    )
    cluster = Cluster(
        "cluster",
        ClusterArgs(
            name=cluster_name,
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            public_subnet_ids=network.public_subnet_ids,
            kubernetes_version=config.cluster.kubernetes_version,
            endpoint_public_access=config.cluster.endpoint_public_access,
            public_access_cidrs=config.cluster.public_access_cidrs,
            deletion_protection=config.cluster.deletion_protection,
            log_retention_days=config.log_retention_days,
            system_nodes=_node_group_spec(config.cluster.system_nodes),
            workload_nodes=_node_group_spec(config.cluster.workload_nodes),
            admin_role_arns=config.cluster.admin_role_arns,
        ),
        opts=with_aws,
    )
    registry = Registry(
        "registry",
        RegistryArgs(
            name_prefix=config.name_prefix,
            repositories=config.registry.repositories,
            keep_images=config.registry.keep_images,
            force_delete=config.artifacts.force_destroy,
        ),
        opts=with_aws,
    )
    artifacts = ArtifactStore(
        "artifacts",
        ArtifactStoreArgs(
            name_prefix=config.name_prefix,
            force_destroy=config.artifacts.force_destroy,
            noncurrent_version_expiration_days=config.artifacts.noncurrent_version_expiration_days,
            expiration_days={
                "logs": config.artifacts.logs_expiration_days,
                "capture": config.artifacts.capture_expiration_days,
            },
        ),
        opts=with_aws,
    )

    return {
        "region": config.region,
        "vpcId": network.vpc_id,
        "privateSubnetIds": network.private_subnet_ids,
        "clusterName": cluster.name,
        "kubeconfig": cluster.kubeconfig,
        "oidcProviderArn": cluster.oidc_provider_arn,
        "ecrRepositoryUrls": registry.repository_urls,
        "modelServiceRepositoryUrl": registry.repository_urls["model-service"],
        "bucketNames": artifacts.bucket_names,
        "datasetsBucket": artifacts.bucket_names["datasets"],
        "modelsBucket": artifacts.bucket_names["models"],
        "logsBucket": artifacts.bucket_names["logs"],
        "captureBucket": artifacts.bucket_names["capture"],
        "artifactsKmsKeyArn": artifacts.kms_key_arn,
    }


def build(config: StackConfig) -> dict[str, Any]:
    """Every resource of the stack; returns the stack outputs by name."""
    outputs: dict[str, Any] = {"stack": config.stack, "awsEnabled": config.aws_enabled}
    if config.aws_enabled:
        outputs.update(build_aws(config))
    return outputs


def main() -> None:
    """Program entry point: load the config, build, export."""
    from stacks.config import load

    for name, value in build(load()).items():
        pulumi.export(name, value)

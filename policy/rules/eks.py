"""EKS and the network around it: encrypted, logged, a restricted API endpoint, NetworkPolicies
enforced, no security group open to the internet."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import (
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from .common import (
    Report,
    _as_list,
    _resource_policy,
    covers_the_internet,
)

EKS_CLUSTER_TYPES = ("eks:index:Cluster", "aws:eks/cluster:Cluster")
# The bucket's settings are resources of their own; pulumi-aws 7 still accepts the V2 names.
SECURITY_GROUP_TYPES = (
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
)
# Reads that hand out data or secrets: never on every resource.
REQUIRED_CONTROL_PLANE_LOGS = ("api", "audit", "authenticator")


def _eks_settings(args: ResourceValidationArgs) -> dict[str, Any]:
    """pulumi-eks's Cluster and the plain aws.eks.Cluster say the same things in two shapes."""
    props = args.props
    if args.resource_type == "eks:index:Cluster":
        return {
            "secrets_key": props.get("encryptionConfigKeyArn"),
            "log_types": props.get("enabledClusterLogTypes") or [],
            "private": props.get("endpointPrivateAccess"),
            "public": props.get("endpointPublicAccess"),
            "cidrs": props.get("publicAccessCidrs"),
        }
    vpc = props.get("vpcConfig") or {}
    secrets_key = next(
        (
            (config.get("provider") or {}).get("keyArn")
            for config in _as_list(props.get("encryptionConfig") or [])
            if "secrets" in (config.get("resources") or [])
        ),
        None,
    )
    return {
        "secrets_key": secrets_key,
        "log_types": props.get("enabledClusterLogTypes") or [],
        # The EKS API's defaults: public on, private off.
        "private": vpc.get("endpointPrivateAccess", False),
        "public": vpc.get("endpointPublicAccess", True),
        "cidrs": vpc.get("publicAccessCidrs"),
    }


def _eks_secrets_encrypted(args: ResourceValidationArgs, report: Report) -> None:
    if not _eks_settings(args)["secrets_key"]:
        report(f"cluster {args.name} does not encrypt Kubernetes secrets with a KMS key")


def _eks_control_plane_logs(args: ResourceValidationArgs, report: Report) -> None:
    enabled = set(_eks_settings(args)["log_types"])
    missing = [kind for kind in REQUIRED_CONTROL_PLANE_LOGS if kind not in enabled]
    if missing:
        report(f"cluster {args.name} does not log {', '.join(missing)} from its control plane")


def _eks_endpoint_restricted(args: ResourceValidationArgs, report: Report) -> None:
    settings = _eks_settings(args)
    if settings["private"] is not True:
        report(f"cluster {args.name} has no private API endpoint")
    if settings["public"] is False:
        return
    cidrs = settings["cidrs"]
    if not cidrs:
        report(f"cluster {args.name} exposes its API to the whole internet (no publicAccessCidrs)")
    elif covers_the_internet(cidrs):
        report(f"cluster {args.name} exposes its API to the whole internet ({', '.join(cidrs)})")


def _ingress_ranges(args: ResourceValidationArgs) -> list[str]:
    props = args.props
    if args.resource_type == "aws:ec2/securityGroup:SecurityGroup":
        return [
            cidr
            for rule in props.get("ingress") or []
            for cidr in [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]
        ]
    if args.resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule":
        if props.get("type") != "ingress":
            return []
        return [*(props.get("cidrBlocks") or []), *(props.get("ipv6CidrBlocks") or [])]
    return [cidr for cidr in (props.get("cidrIpv4"), props.get("cidrIpv6")) if cidr]


def _no_world_ingress(args: ResourceValidationArgs, report: Report) -> None:
    ranges = _ingress_ranges(args)
    if ranges and covers_the_internet(ranges):
        report(f"security group {args.name} admits the whole internet ({', '.join(ranges)})")


def _vpc_cni_enforces_policies(args: ResourceValidationArgs, report: Report) -> None:
    if args.props.get("addonName") != "vpc-cni":
        return
    configuration = args.props.get("configurationValues")
    values = json.loads(configuration) if isinstance(configuration, str) and configuration else {}
    if str(values.get("enableNetworkPolicy", "false")).lower() != "true":
        report(f"add-on {args.name} does not enforce NetworkPolicies (configuration enableNetworkPolicy)")


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    _resource_policy(
        "eks-secrets-encryption",
        "EKS encrypts Kubernetes secrets with a KMS key (envelope encryption).",
        "Pass encryption_config_key_arn to eks.Cluster (components.cluster does).",
        list(EKS_CLUSTER_TYPES),
        _eks_secrets_encrypted,
    ),
    _resource_policy(
        "eks-control-plane-logs",
        "EKS sends its api, audit and authenticator logs to CloudWatch.",
        "Set enabled_cluster_log_types to include api, audit and authenticator.",
        list(EKS_CLUSTER_TYPES),
        _eks_control_plane_logs,
    ),
    _resource_policy(
        "eks-endpoint-restricted",
        "The EKS API has a private endpoint and no public endpoint open to the whole internet (ranges that "
        "together admit more public addresses than a /8 count as the internet).",
        "Set clusterPublicAccessCidrs to your VPN or office ranges, or clusterEndpointPublicAccess to false.",
        list(EKS_CLUSTER_TYPES),
        _eks_endpoint_restricted,
    ),
    _resource_policy(
        "network-no-world-ingress",
        "No security group admits the whole internet (checked on groups, group rules and VPC ingress rules).",
        "Admit the VPC's range, a load balancer's security group, or your VPN or office ranges.",
        list(SECURITY_GROUP_TYPES),
        _no_world_ingress,
    ),
    _resource_policy(
        "eks-network-policy-enforced",
        "The VPC CNI enforces NetworkPolicies (CIS EKS 5.4.4: network policies in effect).",
        'Configure the vpc-cni add-on with {"enableNetworkPolicy": "true"} (components/addons/vpc_cni.py).',
        ["aws:eks/addon:Addon"],
        _vpc_cni_enforces_policies,
    ),
]

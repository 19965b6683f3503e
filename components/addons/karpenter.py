"""Karpenter: node autoscaling on EKS. It launches EC2 capacity for pods that fit no node (within
the NodePool's CPU and memory limits from config), consolidates empty or underused nodes, and
drains nodes ahead of spot interruptions and scheduled maintenance, read from an SQS queue that
EventBridge rules fill. Its IRSA role may launch and terminate only instances tagged for this
cluster and pass only the node role.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from components.helm import resources
from components.iam import policy_document

NAME = "karpenter"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
NODE_POOL = "default"
NODE_CLASS = "default"
DISCOVERY_TAG = "karpenter.sh/discovery"

CapacityKind = Literal["spot", "on-demand"]


@dataclass(frozen=True)
class NodePoolSpec:
    """What a stack decides about the nodes Karpenter may launch (read by stacks.config.cluster)."""

    capacity_types: Sequence[CapacityKind]
    cpu_limit: int  # cores across all of the pool's nodes
    memory_limit_gi: int


# EventBridge events that announce an instance going away; Karpenter drains the node first.
INTERRUPTION_EVENTS = {
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}


def event_pattern(kind: str) -> str:
    return json.dumps(INTERRUPTION_EVENTS[kind])


def controller_policy(
    *, partition: str, region: str, account_id: str, cluster_name: str, node_role_arn: str, queue_arn: str
) -> str:
    """What the controller calls: launches and terminations only of what carries this cluster's
    tag, the node role and nothing else to pass, its own queue."""
    ec2 = f"arn:{partition}:ec2:{region}"
    cluster_tag = f"kubernetes.io/cluster/{cluster_name}"
    owned_request = {
        "StringEquals": {f"aws:RequestTag/{cluster_tag}": "owned"},
        "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
    }
    owned_resource = {
        "StringEquals": {f"aws:ResourceTag/{cluster_tag}": "owned"},
        "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
    }
    profiles = f"arn:{partition}:iam::{account_id}:instance-profile/*"
    launched = [
        f"{ec2}:*:{kind}/*"
        for kind in ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
    ]
    return policy_document(
        {
            "Sid": "LaunchFromSharedResources",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Resource": [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:*:security-group/*",
                f"{ec2}:*:subnet/*",
                f"{ec2}:*:capacity-reservation/*",
            ],
        },
        {
            "Sid": "LaunchTaggedResources",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            "Resource": launched,
            "Condition": owned_request,
        },
        {
            "Sid": "TagOnLaunch",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": launched,
            "Condition": {
                **owned_request,
                "StringEqualsIfExists": {"ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
            },
        },
        {
            "Sid": "ManageOwnInstances",
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate", "ec2:CreateTags"],
            "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            "Condition": owned_resource,
        },
        {
            "Sid": "Discover",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
                "ec2:DescribeCapacityReservations",
                "pricing:GetProducts",
            ],
            "Resource": "*",
        },
        {
            "Sid": "AmiParameters",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*",
        },
        {
            "Sid": "PassNodeRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": node_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}},
        },
        {
            "Sid": "InstanceProfiles",
            "Effect": "Allow",
            "Action": [
                "iam:CreateInstanceProfile",
                "iam:TagInstanceProfile",
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteInstanceProfile",
            ],
            "Resource": profiles,
            "Condition": {
                "StringLike": {
                    f"aws:ResourceTag/{cluster_tag}": "owned",
                    "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                }
            },
        },
        {
            "Sid": "CreateInstanceProfiles",
            "Effect": "Allow",
            "Action": ["iam:CreateInstanceProfile", "iam:TagInstanceProfile"],
            "Resource": profiles,
            "Condition": {
                "StringEquals": {f"aws:RequestTag/{cluster_tag}": "owned"},
                "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        },
        {"Sid": "ReadInstanceProfiles", "Effect": "Allow", "Action": "iam:GetInstanceProfile", "Resource": profiles},
        {
            "Sid": "Cluster",
            "Effect": "Allow",
            "Action": "eks:DescribeCluster",
            "Resource": f"arn:{partition}:eks:{region}:{account_id}:cluster/{cluster_name}",
        },
        {
            "Sid": "InterruptionQueue",
            "Effect": "Allow",
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            "Resource": queue_arn,
        },
    )


def queue_policy(queue_arn: str) -> str:
    """EventBridge (and SQS itself, for tests of the queue) may send to the queue, over TLS only."""
    return policy_document(
        {
            "Sid": "EventBridge",
            "Effect": "Allow",
            "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
        },
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )


def values(cluster_name: Any, queue_name: Any, role_arn: Any) -> dict[str, Any]:
    return {
        "settings": {"clusterName": cluster_name, "interruptionQueue": queue_name},
        "serviceAccount": {"name": SERVICE_ACCOUNT, "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
        "controller": {"resources": resources("200m", "256Mi", "512Mi")},
    }


def node_class(cluster_name: str, node_role_name: Any) -> dict[str, Any]:
    """Where nodes come from: AL2023, the cluster's private subnets and security group, the node role."""
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": NODE_CLASS},
        "spec": {
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "role": node_role_name,
            "subnetSelectorTerms": [{"tags": {DISCOVERY_TAG: cluster_name}}],
            "securityGroupSelectorTerms": [{"tags": {"aws:eks:cluster-name": cluster_name}}],
            "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
            "blockDeviceMappings": [
                {"deviceName": "/dev/xvda", "ebs": {"volumeSize": "40Gi", "volumeType": "gp3", "encrypted": True}}
            ],
        },
    }


def node_pool(spec: NodePoolSpec) -> dict[str, Any]:
    """What nodes may be: current general-purpose families, the stack's capacity types, within its limits."""
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": NODE_POOL},
        "spec": {
            "template": {
                "metadata": {"labels": {"mlops.platform/node-role": "karpenter"}},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": NODE_CLASS},
                    "requirements": [
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(spec.capacity_types)},
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m", "r"]},
                        {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt", "values": ["5"]},
                    ],
                    "expireAfter": "720h",
                },
            },
            "limits": {"cpu": str(spec.cpu_limit), "memory": f"{spec.memory_limit_gi}Gi"},
            "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m"},
        },
    }

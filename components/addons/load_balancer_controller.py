"""The AWS Load Balancer Controller: turns Ingresses of class `alb` into Application Load
Balancers (Grafana's, here), with an IRSA role that may manage only load balancers, target groups,
listeners and security groups it created (tagged `elbv2.k8s.aws/cluster`)."""

from __future__ import annotations

from typing import Any

import pulumi

from components.helm import resources
from components.iam import policy_document

NAME = "aws-load-balancer-controller"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = NAME
INGRESS_CLASS = "alb"
# The tag the controller puts on what it creates; its write permissions require it.
CLUSTER_TAG = "elbv2.k8s.aws/cluster"

_DESCRIBE = [
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAddresses",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeTags",
    "ec2:DescribeCoipPools",
    "ec2:GetCoipPoolUsage",
    "ec2:DescribeRouteTables",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeSSLPolicies",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTrustStores",
    "elasticloadbalancing:DescribeCapacityReservation",
    "acm:ListCertificates",
    "acm:DescribeCertificate",
]
_CREATE_TAGGED = [
    "ec2:CreateSecurityGroup",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:CreateTargetGroup",
]
_MANAGE_OWN = [
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:DeleteSecurityGroup",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:SetIpAddressType",
    "elasticloadbalancing:SetSecurityGroups",
    "elasticloadbalancing:SetSubnets",
    "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:DeregisterTargets",
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:RemoveTags",
    "elasticloadbalancing:ModifyListenerAttributes",
]
# Listeners and rules carry no tag of their own until created: the load balancer they belong to does.
_LISTENERS = [
    "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:CreateRule",
    "elasticloadbalancing:DeleteRule",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:AddListenerCertificates",
    "elasticloadbalancing:RemoveListenerCertificates",
]


def policy(region: str, account_id: str, partition: str) -> str:
    """What the controller calls, no more; writes only on resources tagged as its cluster's."""
    elb = f"arn:{partition}:elasticloadbalancing:{region}:{account_id}"
    ec2 = f"arn:{partition}:ec2:{region}:{account_id}"
    tagged_on_create = {"Null": {f"aws:RequestTag/{CLUSTER_TAG}": "false"}}
    tagged = {"Null": {f"aws:ResourceTag/{CLUSTER_TAG}": "false"}}
    return policy_document(
        {"Sid": "Discover", "Effect": "Allow", "Action": _DESCRIBE, "Resource": "*"},
        {
            "Sid": "ServiceLinkedRole",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": f"arn:{partition}:iam::{account_id}:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
            "AWSServiceRoleForElasticLoadBalancing",
            "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
        },
        {
            "Sid": "CreateTagged",
            "Effect": "Allow",
            "Action": _CREATE_TAGGED,
            "Resource": [f"{ec2}:security-group/*", f"{ec2}:vpc/*", f"{elb}:loadbalancer/*", f"{elb}:targetgroup/*"],
            "Condition": tagged_on_create,
        },
        {
            "Sid": "TagSecurityGroupOnCreate",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": f"{ec2}:security-group/*",
            "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **tagged_on_create},
        },
        {
            "Sid": "TagLoadBalancersOnCreate",
            "Effect": "Allow",
            "Action": "elasticloadbalancing:AddTags",
            "Resource": [f"{elb}:loadbalancer/*", f"{elb}:targetgroup/*"],
            "Condition": {
                "StringEquals": {"elasticloadbalancing:CreateAction": ["CreateLoadBalancer", "CreateTargetGroup"]},
                **tagged_on_create,
            },
        },
        {
            "Sid": "ManageOwn",
            "Effect": "Allow",
            "Action": _MANAGE_OWN,
            "Resource": [f"{ec2}:security-group/*", f"{elb}:loadbalancer/*", f"{elb}:targetgroup/*"],
            "Condition": tagged,
        },
        {
            "Sid": "Listeners",
            "Effect": "Allow",
            "Action": _LISTENERS,
            "Resource": [f"{elb}:listener/*", f"{elb}:listener-rule/*", f"{elb}:loadbalancer/*"],
        },
    )


def values(cluster_name: pulumi.Input[str], region: str, vpc_id: pulumi.Input[str], role_arn: Any) -> dict[str, Any]:
    return {
        "clusterName": cluster_name,
        "region": region,
        "vpcId": vpc_id,
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": role_arn},
        },
        "ingressClass": INGRESS_CLASS,
        "createIngressClassResource": True,
        # Grafana's targets are its pods: the ALB talks to pod IPs, through no NodePort.
        "defaultTargetType": "ip",
        "resources": resources("50m", "128Mi", "256Mi"),
    }

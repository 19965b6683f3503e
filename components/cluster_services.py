"""ClusterServices: the in-cluster add-ons a platform cluster needs, installed from vendored charts
(one module each under components/addons/): metrics-server on every stack; on EKS the AWS Load
Balancer Controller (with its IRSA role)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.addons import load_balancer_controller, metrics_server
from components.helm import vendored_release
from components.iam import ServiceAccountRoles, arn_partition
from components.vendored_charts import AWS_LOAD_BALANCER_CONTROLLER, METRICS_SERVER


@dataclass(frozen=True)
class EksContext:
    """What the EKS-only add-ons need to know about their cluster."""

    cluster_name: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    irsa: ServiceAccountRoles


@dataclass(frozen=True)
class ClusterServicesArgs:
    # None on a local (kind) cluster, whose kubelets serve self-signed certificates.
    eks: EksContext | None


class ClusterServices(pulumi.ComponentResource):
    metrics_server: k8s.helm.v3.Release

    def __init__(self, name: str, args: ClusterServicesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:cluster:ClusterServices", name, None, opts)
        self.metrics_server = vendored_release(
            name,
            METRICS_SERVER,
            namespace=metrics_server.NAMESPACE,
            values=metrics_server.values(kubelet_insecure_tls=args.eks is None),
            parent=self,
            timeout=300,
        )
        self.releases: list[pulumi.Resource] = [self.metrics_server]
        if args.eks is not None:
            self.releases.append(self._load_balancer_controller(name, args.eks))
        self.register_outputs({})

    def _load_balancer_controller(self, name: str, eks: EksContext) -> k8s.helm.v3.Release:
        policy = pulumi.Output.from_input(eks.account_id).apply(
            lambda account: load_balancer_controller.policy(eks.region, account, arn_partition(eks.region))
        )
        role = eks.irsa.role(
            f"{name}-load-balancer-controller",
            namespace=load_balancer_controller.NAMESPACE,
            service_account=load_balancer_controller.SERVICE_ACCOUNT,
            inline_policy=policy,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return vendored_release(
            name,
            AWS_LOAD_BALANCER_CONTROLLER,
            namespace=load_balancer_controller.NAMESPACE,
            values=load_balancer_controller.values(eks.cluster_name, eks.region, eks.vpc_id, role.arn),
            parent=self,
            timeout=600,
        )

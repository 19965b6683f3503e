"""ClusterServices: the in-cluster add-ons a platform cluster needs, installed from vendored charts
(one module each under components/addons/): metrics-server on every stack; on EKS the AWS Load
Balancer Controller and Karpenter (each with its IRSA role), and Karpenter's node pool."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.addons import karpenter, load_balancer_controller, metrics_server
from components.addons.karpenter import NodePoolSpec
from components.helm import vendored_release
from components.iam import ServiceAccountRoles, arn_partition
from components.vendored_charts import AWS_LOAD_BALANCER_CONTROLLER, KARPENTER, KARPENTER_CRD, METRICS_SERVER


@dataclass(frozen=True)
class EksContext:
    """What the EKS-only add-ons need to know about their cluster."""

    cluster_name: str
    region: str
    account_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    irsa: ServiceAccountRoles
    node_role_arn: pulumi.Input[str]
    node_role_name: pulumi.Input[str]
    node_pool: NodePoolSpec


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
            self.releases.append(self._karpenter(name, args.eks))
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

    def _karpenter(self, name: str, eks: EksContext) -> k8s.apiextensions.CustomResource:
        """The interruption queue and its EventBridge rules, the controller's role, its CRDs and
        chart, then the node class and node pool it acts on."""
        child = pulumi.ResourceOptions(parent=self)
        queue = aws.sqs.Queue(
            f"{name}-karpenter-interruptions",
            name=f"{eks.cluster_name}-karpenter-interruptions",
            message_retention_seconds=300,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-karpenter-interruptions",
            queue_url=queue.url,
            policy=queue.arn.apply(karpenter.queue_policy),
            opts=pulumi.ResourceOptions(parent=queue),
        )
        for kind in karpenter.INTERRUPTION_EVENTS:
            rule = aws.cloudwatch.EventRule(
                f"{name}-karpenter-{kind}", event_pattern=karpenter.event_pattern(kind), opts=child
            )
            aws.cloudwatch.EventTarget(
                f"{name}-karpenter-{kind}", rule=rule.name, arn=queue.arn, opts=pulumi.ResourceOptions(parent=rule)
            )
        partition = arn_partition(eks.region)
        policy = pulumi.Output.all(eks.account_id, eks.cluster_name, eks.node_role_arn, queue.arn).apply(
            lambda resolved: karpenter.controller_policy(
                partition=partition,
                region=eks.region,
                account_id=resolved[0],
                cluster_name=resolved[1],
                node_role_arn=resolved[2],
                queue_arn=resolved[3],
            )
        )
        role = eks.irsa.role(
            f"{name}-karpenter",
            namespace=karpenter.NAMESPACE,
            service_account=karpenter.SERVICE_ACCOUNT,
            inline_policy=policy,
            opts=child,
        )
        crds = vendored_release(name, KARPENTER_CRD, namespace=karpenter.NAMESPACE, values={}, parent=self)
        controller = vendored_release(
            name,
            KARPENTER,
            namespace=karpenter.NAMESPACE,
            values=karpenter.values(eks.cluster_name, queue.name, role.arn),
            parent=self,
            depends_on=[crds],
        )
        after_controller = pulumi.ResourceOptions(parent=self, depends_on=[controller])
        objects = {
            "node-class": karpenter.node_class(eks.cluster_name, eks.node_role_name),
            "node-pool": karpenter.node_pool(eks.node_pool),
        }
        created = [
            k8s.apiextensions.CustomResource(
                f"{name}-karpenter-{suffix}",
                api_version=doc["apiVersion"],
                kind=doc["kind"],
                metadata=doc["metadata"],
                spec=doc["spec"],
                opts=after_controller,
            )
            for suffix, doc in objects.items()
        ]
        return created[-1]

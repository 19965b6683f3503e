"""NetworkPolicies for the namespaces the platform creates: deny everything by default, then allow
exactly the flows the platform needs. The VPC CNI enforces them on EKS (components/addons/vpc_cni.py);
on a local cluster the CNI must support NetworkPolicy (kind's kindnet does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

ANYWHERE = "0.0.0.0/0"
DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}


def _ports(numbers: Sequence[int], protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"port": number, "protocol": protocol} for number in numbers]


@dataclass(frozen=True)
class Flow:
    """One allowed flow of a namespace's policy: pods selected by `pods` talk (egress) to
    `peers` on `ports`, or are reached (ingress) from them."""

    name: str
    pods: dict[str, Any]
    direction: str  # "Ingress" or "Egress"
    peers: list[dict[str, Any]]
    ports: list[dict[str, Any]] = field(default_factory=list)


def baseline(namespace: str) -> list[Flow]:
    """What every namespace of the platform allows: DNS, the namespace's own pods among themselves,
    and HTTPS out (the Kubernetes API, and AWS APIs through IRSA: STS, S3, CloudWatch)."""
    return [
        Flow("dns", {}, "Egress", [DNS], _ports([53], "UDP") + _ports([53])),
        Flow("same-namespace-in", {}, "Ingress", [{"podSelector": {}}]),
        Flow("same-namespace-out", {}, "Egress", [{"podSelector": {}}]),
        Flow("https-out", {}, "Egress", [{"ipBlock": {"cidr": ANYWHERE}}], _ports([443])),
    ]


def namespace(
    name: str,
    namespace_name: str,
    flows: Sequence[Flow],
    *,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
) -> k8s.core.v1.Namespace:
    """A namespace (made after `after`) that denies by default and allows `flows`."""
    created = k8s.core.v1.Namespace(
        f"{name}-ns",
        metadata={"name": namespace_name},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )
    apply(f"{name}-policy", namespace_name, flows, parent=parent, depends_on=[created])
    return created


def apply(
    name: str, namespace: str, flows: Sequence[Flow], *, parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource]
) -> None:
    """A default-deny policy for `namespace` and one policy per flow."""
    opts = pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on))
    k8s.networking.v1.NetworkPolicy(
        f"{name}-default-deny",
        metadata={"name": "default-deny", "namespace": namespace},
        spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        opts=opts,
    )
    for flow in flows:
        rule: dict[str, Any] = {"from" if flow.direction == "Ingress" else "to": flow.peers}
        if flow.ports:
            rule["ports"] = flow.ports
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-{flow.name}",
            metadata={"name": f"allow-{flow.name}", "namespace": namespace},
            spec={
                "podSelector": flow.pods,
                "policyTypes": [flow.direction],
                "ingress" if flow.direction == "Ingress" else "egress": [rule],
            },
            opts=opts,
        )


PROMETHEUS_PODS = {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}
OPERATOR_PODS = {"matchLabels": {"app": "kube-prometheus-stack-operator"}}
GRAFANA_PODS = {"matchLabels": {"app.kubernetes.io/name": "grafana"}}
ALERTMANAGER_PODS = {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}}
ALLOY_PODS = {"matchLabels": {"app.kubernetes.io/name": "alloy"}}
# Ports Prometheus scrapes outside the pod network: kubelets and node-exporter (host network).
NODE_SCRAPE_PORTS = (10250, 9100)
GRAFANA_PORT = 3000
SMTP_PORTS = (25, 587)
WEBHOOK_PORT = 10250


def in_namespaces(names: Sequence[str], pods: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Peers: the pods (all, or those `pods` selects) of each namespace in `names`."""
    peers = []
    for name in names:
        peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}
        if pods is not None:
            peer["podSelector"] = pods
        peers.append(peer)
    return peers


def otlp_out(monitoring_namespace: str, port: int) -> Flow:
    """A namespace's pods send traces to Alloy's OTLP receiver in the monitoring namespace."""
    return Flow("otlp-out", {}, "Egress", in_namespaces([monitoring_namespace], ALLOY_PODS), _ports([port]))


def monitoring(
    namespace: str,
    trace_sources: Sequence[str] = (),
    otlp_port: int = 4318,
    object_store_clients: dict[str, Any] | None = None,
) -> list[Flow]:
    """The monitoring namespace: Prometheus scrapes every namespace and the nodes; the API server
    calls the operator's admission webhook; Grafana is reached through its Ingress (or a
    port-forward, which no policy sees); Alertmanager mails out; Alloy receives traces from the
    `trace_sources` namespaces; the pods `object_store_clients` selects reach the in-cluster
    object store."""
    flows = [*_monitoring_flows(namespace)]
    if trace_sources:
        flows.append(Flow("otlp-in", ALLOY_PODS, "Ingress", in_namespaces(trace_sources), _ports([otlp_port])))
    if object_store_clients is not None:
        flows.append(object_store_out(object_store_clients))
    return flows


# The in-cluster object store (components/object_store.py), for stacks without AWS.
OBJECT_STORE_NAMESPACE = "storage"
OBJECT_STORE_PODS = {"matchLabels": {"app": "minio", "release": "minio"}}
OBJECT_STORE_PORT = 9000


def object_store_out(pods: dict[str, Any]) -> Flow:
    """The pods `pods` selects reach the in-cluster object store's S3 port."""
    return Flow(
        "object-store-out",
        pods,
        "Egress",
        in_namespaces([OBJECT_STORE_NAMESPACE], OBJECT_STORE_PODS),
        _ports([OBJECT_STORE_PORT]),
    )


def _monitoring_flows(namespace: str) -> list[Flow]:
    return [
        *baseline(namespace),
        Flow("scrape-nodes", PROMETHEUS_PODS, "Egress", [{"ipBlock": {"cidr": ANYWHERE}}], _ports(NODE_SCRAPE_PORTS)),
        Flow("scrape-pods", PROMETHEUS_PODS, "Egress", [{"namespaceSelector": {}}]),
        Flow("admission-webhook", OPERATOR_PODS, "Ingress", [{"ipBlock": {"cidr": ANYWHERE}}], _ports([WEBHOOK_PORT])),
        Flow("grafana-in", GRAFANA_PODS, "Ingress", [{"ipBlock": {"cidr": ANYWHERE}}], _ports([GRAFANA_PORT])),
        Flow("smtp-out", ALERTMANAGER_PODS, "Egress", [{"ipBlock": {"cidr": ANYWHERE}}], _ports(SMTP_PORTS)),
    ]

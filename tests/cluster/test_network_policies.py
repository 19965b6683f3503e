"""The platform's namespaces deny by default and allow exactly the flows the platform needs, read
from the rendered NetworkPolicies with Kubernetes' semantics (tests/support/selectors.py), and
an enforcing CNI is there to apply them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.cluster_render import Cluster, render_stack
from tests.support.selectors import allowed

# Pods the Prometheus operator creates from its custom resources (no chart renders them).
OPERATOR_PODS = {
    "prometheus": ("monitoring", {"app.kubernetes.io/name": "prometheus"}, {"web": 9090}),
    "alertmanager": ("monitoring", {"app.kubernetes.io/name": "alertmanager"}, {"http-web": 9093}),
}
S3 = {"ip": "52.216.0.10"}
SOMEWHERE = {"ip": "198.51.100.7"}


def _pods(cluster: Cluster) -> dict[str, tuple[dict[str, Any], dict[str, int]]]:
    """Workload name -> (pod {"namespace", "labels"}, named container ports)."""
    pods = {}
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        for manifest in cluster.of_kind(kind):
            template = manifest.doc["spec"]["template"]
            ports = {
                port.get("name", ""): port["containerPort"]
                for container in template["spec"]["containers"]
                for port in container.get("ports", [])
            }
            labels = template["metadata"].get("labels") or {}
            pods[manifest.name] = ({"namespace": manifest.namespace, "labels": labels}, ports)
    for name, (namespace, labels, ports) in OPERATOR_PODS.items():
        pods[name] = ({"namespace": namespace, "labels": labels}, ports)
    pods["kube-dns"] = ({"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}, {"dns": 53})
    pods["a-pod-in-default"] = ({"namespace": "default", "labels": {"app": "stray"}}, {})
    return pods


def _policies(cluster: Cluster) -> list[dict[str, Any]]:
    return [m.doc for m in cluster.of_kind("NetworkPolicy")]


def _can(cluster: Cluster, source: str | dict[str, str], destination: str | dict[str, str], port: str | int) -> bool:
    pods = _pods(cluster)
    src = pods[source][0] if isinstance(source, str) else source
    if isinstance(destination, str):
        dst, ports = pods[destination]
        number = port if isinstance(port, int) else ports[port]
        name = next((key for key, value in ports.items() if value == number), "")
    else:
        dst, number, name = destination, int(port), ""
    protocol = "UDP" if number == 53 else "TCP"
    return allowed(_policies(cluster), src, dst, number, name, protocol)


NEEDED = [
    ("prometheus", "model-service", "http"),
    ("prometheus", "kube-prometheus-stack-kube-state-metrics", "http"),
    ("prometheus", "alertmanager", "http-web"),
    ("prometheus", {"ip": "10.20.1.15"}, 10250),
    ("kube-prometheus-stack-grafana", "prometheus", "web"),
    ("kube-prometheus-stack-grafana", "alertmanager", "http-web"),
    ("kube-prometheus-stack-grafana", "loki-gateway", "http-metrics"),
    ("alloy", "loki-gateway", "http-metrics"),
    # Traces: the pods to Alloy's OTLP receiver, Alloy to Tempo, Grafana reads Tempo.
    ("model-service", "alloy", "otlp-http"),
    ("alloy", "tempo", "otlp-grpc"),
    ("kube-prometheus-stack-grafana", "tempo", "prom-metrics"),
    ("model-service", "kube-dns", 53),
    ("alloy", "kube-dns", 53),
    ("model-service", S3, 443),
    ("kube-prometheus-stack-grafana", SOMEWHERE, 443),
    (SOMEWHERE, "kube-prometheus-stack-operator", "https"),
]
DENIED = [
    ("model-service", "prometheus", "web"),
    ("model-service", "tempo", "otlp-grpc"),  # only through Alloy
    ("a-pod-in-default", "alloy", "otlp-http"),
    ("a-pod-in-default", "loki-gateway", "http-metrics"),
    ("a-pod-in-default", "kube-prometheus-stack-grafana", "grafana"),
    ("model-service", SOMEWHERE, 80),
    ("kube-prometheus-stack-grafana", SOMEWHERE, 80),
]


def test_both_platform_namespaces_deny_by_default(cluster: Cluster) -> None:
    for namespace in ("monitoring", "models"):
        deny = [
            p
            for p in _policies(cluster)
            if p["metadata"]["namespace"] == namespace
            and p["spec"]["podSelector"] == {}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        assert deny, f"no default-deny policy in {namespace}"


@pytest.mark.parametrize(("source", "destination", "port"), NEEDED, ids=str)
def test_every_needed_flow_is_allowed(cluster: Cluster, source: Any, destination: Any, port: Any) -> None:
    assert _can(cluster, source, destination, port)


@pytest.mark.parametrize(("source", "destination", "port"), DENIED, ids=str)
def test_other_flows_are_denied(cluster: Cluster, source: Any, destination: Any, port: Any) -> None:
    assert not _can(cluster, source, destination, port)


def test_the_load_generator_reaches_the_model_service_where_it_runs(cluster: Cluster) -> None:
    """Only the local stack runs it (loadGeneratorUsers); its traffic and labels must get through."""
    if cluster.stack == "local":
        assert _can(cluster, "load-generator", "model-service", "http")
        assert _can(cluster, "load-generator", "kube-dns", 53)
    else:
        assert "load-generator" not in _pods(cluster)


def test_only_the_object_stores_users_reach_it_where_it_runs(cluster: Cluster) -> None:
    """The local stack's MinIO: Loki, the model service and the publish Job get through, the
    load generator and strangers do not."""
    if cluster.stack != "local":
        assert "minio" not in _pods(cluster)
        return
    publisher = {"namespace": "models", "labels": {"app.kubernetes.io/name": "model-publisher"}}
    for source in ("loki", "model-service", publisher):
        assert _can(cluster, source, "minio", 9000), source
    for source in ("load-generator", "a-pod-in-default", "kube-prometheus-stack-grafana"):
        assert not _can(cluster, source, "minio", 9000), source


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_eks_enforces_network_policies(stack: str) -> None:
    """On EKS the VPC CNI's policy agent enforces them. (The local stack runs on the current kube
    context, whose CNI is the cluster's: kind's kindnet enforces NetworkPolicy.)"""
    cni = render_stack(stack).run.one("aws:eks/addon:Addon", "cluster-vpc-cni").inputs
    assert json.loads(cni["configurationValues"])["enableNetworkPolicy"] == "true"

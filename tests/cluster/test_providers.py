"""Every object that needs something else to act on it finds it in the stack: an HPA on resource
metrics needs metrics-server, a claim needs its StorageClass, an Ingress its controller and class,
a custom object its CRD."""

from __future__ import annotations

from typing import Any

from tests.support.cluster_render import Cluster


def test_resource_metric_autoscalers_have_metrics_server(cluster: Cluster) -> None:
    on_resources = [
        hpa
        for hpa in cluster.of_kind("HorizontalPodAutoscaler")
        if any(metric["type"] == "Resource" for metric in hpa.doc["spec"].get("metrics", []))
    ]
    if not on_resources:
        assert cluster.stack == "local", "dev and prod autoscale the model service"
    services = {m.name for m in cluster.of_kind("APIService")}
    assert "v1beta1.metrics.k8s.io" in services
    assert any(m.name == "metrics-server" and m.namespace == "kube-system" for m in cluster.of_kind("Deployment"))


def _claims(cluster: Cluster) -> list[tuple[str, dict[str, Any]]]:
    found = [
        (f"StatefulSet/{m.name}", template["spec"])
        for m in cluster.of_kind("StatefulSet")
        for template in m.doc["spec"].get("volumeClaimTemplates") or []
    ]
    for prometheus in cluster.of_kind("Prometheus"):
        storage = prometheus.doc["spec"].get("storageSpec", {}).get("volumeClaimTemplate", {}).get("spec")
        if storage:
            found.append((f"Prometheus/{prometheus.name}", storage))
    return found


def test_every_claim_has_its_storage_class(cluster: Cluster) -> None:
    claims = _claims(cluster)
    assert claims, "Prometheus keeps its data on a volume"
    classes = {m.name: m for m in cluster.of_kind("StorageClass")}
    defaults = [
        name
        for name, m in classes.items()
        if (m.doc["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    for owner, spec in claims:
        wanted = spec.get("storageClassName")
        if wanted:
            assert wanted in classes, f"{owner} asks for StorageClass {wanted}, which the stack does not create"
        elif cluster.run.outputs["awsEnabled"]:
            assert defaults, f"{owner} relies on a default StorageClass and EKS has none of its own"


def test_custom_objects_have_their_crds(cluster: Cluster) -> None:
    kinds = {crd.doc["spec"]["names"]["kind"] for crd in cluster.custom_resource_definitions()}
    for kind in ("ServiceMonitor", "PrometheusRule", "Prometheus", "Alertmanager"):
        assert cluster.of_kind(kind), kind
        assert kind in kinds, kind


def test_every_ingress_has_its_class_and_controller_and_a_backend(cluster: Cluster) -> None:
    ingresses = cluster.of_kind("Ingress")
    if not cluster.run.outputs["awsEnabled"]:
        assert ingresses == [], "the local stack reaches Grafana by port-forward"
        return
    assert [m.name for m in ingresses] == ["kube-prometheus-stack-grafana"]
    classes = {m.name: m for m in cluster.of_kind("IngressClass")}
    services = {(m.name, m.namespace): m for m in cluster.of_kind("Service")}
    for ingress in ingresses:
        spec = ingress.doc["spec"]
        ingress_class = classes[spec["ingressClassName"]]
        assert ingress_class.doc["spec"]["controller"] == "ingress.k8s.aws/alb"
        assert any(m.name == "aws-load-balancer-controller" for m in cluster.of_kind("Deployment"))
        annotations = ingress.doc["metadata"]["annotations"]
        assert annotations["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTPS": 443}]', "HTTPS only"
        assert annotations["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:")
        assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal"
        for rule in spec["rules"]:
            assert rule["host"] == cluster.run.outputs["grafanaUrl"].removeprefix("https://")
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = services[(backend["name"], ingress.namespace)]
                ports = {p["port"] for p in service.doc["spec"]["ports"]} | {
                    p.get("name") for p in service.doc["spec"]["ports"]
                }
                assert backend["port"].get("number", backend["port"].get("name")) in ports

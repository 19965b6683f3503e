"""What must meet across releases, read from the rendered manifests as a cluster reads them:
Prometheus selects every monitor and rule; Grafana's sidecar loads every dashboard; every URL a
datasource or Alloy names is a Service and port that exists; every ServiceAccount an IAM role
trusts exists with the role's annotation; Loki stores in the program's bucket; and every label a
LogQL query matches is one Alloy gives the model service's logs."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlparse

import yaml

from tests.support.cluster_render import Cluster, Manifest
from tests.support.pulumi_harness import REPO
from tests.support.selectors import alloy_relabel, namespace_labels, pod_meta_labels, selects


def _labels(manifest: Manifest) -> dict[str, str]:
    return manifest.doc["metadata"].get("labels") or {}


def test_prometheus_selects_every_service_monitor_and_rule(cluster: Cluster) -> None:
    (prometheus,) = cluster.of_kind("Prometheus")
    spec = prometheus.doc["spec"]
    for kind, selector, namespaces in (
        ("ServiceMonitor", "serviceMonitorSelector", "serviceMonitorNamespaceSelector"),
        ("PrometheusRule", "ruleSelector", "ruleNamespaceSelector"),
    ):
        objects = cluster.of_kind(kind)
        assert objects
        for manifest in objects:
            assert selects(spec.get(selector), _labels(manifest)), f"{kind} {manifest.name} is not selected"
            assert selects(spec.get(namespaces), namespace_labels(manifest.namespace or "")), manifest.name


def test_grafana_loads_every_dashboard(cluster: Cluster) -> None:
    grafana = next(m for m in cluster.of_kind("Deployment") if m.name.endswith("-grafana"))
    sidecar = next(
        c for c in grafana.doc["spec"]["template"]["spec"]["containers"] if c["name"] == "grafana-sc-dashboard"
    )
    env = {item["name"]: item.get("value") for item in sidecar["env"]}
    boards = [
        m
        for m in cluster.of_kind("ConfigMap")
        if any(key.endswith(".json") and '"panels"' in value for key, value in (m.doc.get("data") or {}).items())
    ]
    assert len(boards) >= 2
    for board in boards:
        if board.source == "kube-prometheus-stack":
            continue
        assert _labels(board).get(env["LABEL"]) == env["LABEL_VALUE"], board.name
        assert env["NAMESPACE"] == "ALL" or board.namespace in env["NAMESPACE"].split(","), board.name


def _service_ports(cluster: Cluster) -> dict[tuple[str, str], set[int]]:
    return {
        (m.name, m.namespace or ""): {port["port"] for port in m.doc["spec"].get("ports", [])}
        for m in cluster.of_kind("Service")
    }


def _resolve(cluster: Cluster, url: str) -> tuple[str, str, int]:
    parsed = urlparse(url)
    host = parsed.hostname or ""
    service, _, rest = host.partition(".")
    namespace = rest.split(".", 1)[0]
    return service, namespace, parsed.port or (443 if parsed.scheme == "https" else 80)


def test_every_datasource_url_is_a_service_and_port(cluster: Cluster) -> None:
    sources = next(m for m in cluster.of_kind("ConfigMap") if m.name.endswith("grafana-datasource"))
    listed = yaml.safe_load(sources.doc["data"]["datasource.yaml"])["datasources"]
    services = _service_ports(cluster)
    urls = [source["url"] for source in listed if source.get("url")]
    assert len(urls) >= 3
    for url in urls:
        service, namespace, port = _resolve(cluster, url)
        assert port in services.get((service, namespace), set()), f"{url}: no Service {namespace}/{service}:{port}"


def _alloy_config(cluster: Cluster) -> str:
    config = next(m for m in cluster.of_kind("ConfigMap") if m.source == "alloy" and "config.alloy" in m.doc["data"])
    return config.doc["data"]["config.alloy"]


def test_alloy_pushes_to_a_loki_service(cluster: Cluster) -> None:
    (url,) = re.findall(r'url\s*=\s*"([^"]+/loki/api/v1/push)"', _alloy_config(cluster))
    service, namespace, port = _resolve(cluster, url)
    assert port in _service_ports(cluster).get((service, namespace), set()), url


def test_traces_go_from_the_model_service_through_alloy_to_tempo(cluster: Cluster) -> None:
    """The pods' OTLP endpoint is a port of Alloy's Service that Alloy's receiver listens on, and
    Alloy exports to a Tempo Service port that Tempo receives OTLP on."""
    services = _service_ports(cluster)
    deployment = next(m for m in cluster.of_kind("Deployment") if m.name == "model-service")
    (container,) = deployment.doc["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
    service, namespace, port = _resolve(cluster, endpoint)
    assert port in services.get((service, namespace), set()), f"{endpoint}: no such Service port"
    config = _alloy_config(cluster)
    assert re.search(rf'otelcol\.receiver\.otlp "pods" \{{\s*http \{{\s*endpoint = "0\.0\.0\.0:{port}"', config)
    (exporter,) = re.findall(r'otelcol\.exporter\.otlp "tempo" \{\s*client \{\s*endpoint = "([^"]+)"', config)
    tempo_service, tempo_namespace, tempo_port = _resolve(cluster, f"grpc://{exporter}")
    assert tempo_port in services.get((tempo_service, tempo_namespace), set()), exporter
    tempo_config = next(
        m for m in cluster.of_kind("ConfigMap") if m.source == "tempo" and "tempo.yaml" in m.doc["data"]
    )
    receivers = yaml.safe_load(tempo_config.doc["data"]["tempo.yaml"])["distributor"]["receivers"]
    assert receivers["otlp"]["protocols"]["grpc"]["endpoint"].endswith(f":{tempo_port}")


def test_every_datasource_link_names_a_datasource_that_exists(cluster: Cluster) -> None:
    sources = next(m for m in cluster.of_kind("ConfigMap") if m.name.endswith("grafana-datasource"))
    listed = yaml.safe_load(sources.doc["data"]["datasource.yaml"])["datasources"]
    uids = {source.get("uid") for source in listed}
    links = []
    for source in listed:
        data = source.get("jsonData") or {}
        links += [field["datasourceUid"] for field in data.get("derivedFields", [])]
        links += [
            data[key]["datasourceUid"] for key in ("tracesToLogsV2", "tracesToMetrics", "lokiSearch") if key in data
        ]
        links += [item["datasourceUid"] for item in data.get("exemplarTraceIdDestinations", [])]
    assert {"tempo", "loki", "prometheus"} <= set(links)
    assert set(links) <= uids, f"links to {set(links) - uids}, which no datasource has"


def _trusted_service_accounts(cluster: Cluster) -> dict[str, str]:
    """system:serviceaccount:<ns>:<name> -> the ARN of the role that trusts it."""
    trusted = {}
    for role in cluster.run.of_type("aws:iam/role:Role"):
        for statement in json.loads(role.inputs["assumeRolePolicy"])["Statement"]:
            for key, value in statement.get("Condition", {}).get("StringEquals", {}).items():
                if key.endswith(":sub"):
                    trusted[value] = f"arn:aws:iam::123456789012:role/{role.name}"
    return trusted


def test_every_service_account_an_iam_role_trusts_exists_and_names_the_role(cluster: Cluster) -> None:
    trusted = _trusted_service_accounts(cluster)
    if not cluster.run.outputs["awsEnabled"]:
        assert trusted == {}
        return
    accounts = {(m.namespace, m.name): m for m in cluster.of_kind("ServiceAccount")}
    in_cluster = {
        subject: arn for subject, arn in trusted.items() if not subject.startswith("system:serviceaccount:kube-system:")
    }
    assert in_cluster
    for subject, arn in in_cluster.items():
        _, _, namespace, name = subject.split(":")
        account = accounts.get((namespace, name))
        assert account is not None, f"no ServiceAccount {namespace}/{name} for role {arn}"
        annotations = account.doc["metadata"].get("annotations") or {}
        assert annotations.get("eks.amazonaws.com/role-arn") == arn, subject


def test_loki_stores_in_the_programs_logs_bucket_or_the_in_cluster_store(cluster: Cluster) -> None:
    config = next(m for m in cluster.of_kind("ConfigMap") if m.source == "loki" and m.name == "loki")
    storage = yaml.safe_load(config.doc["data"]["config.yaml"])["common"]["storage"]
    if cluster.run.outputs["awsEnabled"]:
        assert storage["s3"]["bucketnames"] == cluster.run.outputs["logsBucket"]
        return
    # Without AWS: a bucket the in-cluster object store's release creates, at a Service it
    # renders, with credentials the Loki pod gets from a Secret and expands into its config.
    host, port = storage["s3"]["endpoint"].split(":")
    name, namespace = host.split(".")[:2]
    service = next(m for m in cluster.of_kind("Service") if (m.name, m.namespace) == (name, namespace))
    assert int(port) in {p["port"] for p in service.doc["spec"]["ports"]}
    scripts = next(m for m in cluster.of_kind("ConfigMap") if m.source == "minio").doc["data"]
    assert f"createBucket {storage['s3']['bucketnames']} " in scripts["initialize"]
    assert "createUser loki" in scripts["add-user"]
    (loki,) = [m for m in cluster.of_kind("StatefulSet") if m.source == "loki" and m.doc["spec"]["replicas"]]
    (container,) = [c for c in loki.doc["spec"]["template"]["spec"]["containers"] if c["name"] == "loki"]
    assert "-config.expand-env=true" in container["args"]
    assert storage["s3"]["access_key_id"] == "${AWS_ACCESS_KEY_ID}"
    assert container["envFrom"] == [{"secretRef": {"name": "loki-object-store"}}]


def _logql_matchers() -> set[tuple[str, str]]:
    """(label, value) of every equality matcher in the dashboards' and runbooks' LogQL."""
    texts = [path.read_text() for path in (REPO / "charts" / "model-service" / "files" / "dashboards").glob("*.json")]
    texts.append((REPO / "docs" / "runbooks.md").read_text())
    found = set()
    for text in texts:
        for selector in re.findall(r'\{((?:\s*\\?"?[a-z_]+\\?"?\s*=~?\s*\\?"[^"\\]*\\?"\s*,?)+)\}', text):
            for label, value in re.findall(r'([a-z_]+)\s*=\s*\\?"([^"\\$]*)\\?"', selector):
                found.add((label, value))
    return found


def test_every_logql_label_matcher_meets_a_label_alloy_gives_the_model_service(cluster: Cluster) -> None:
    deployment = next(m for m in cluster.of_kind("Deployment") if m.name == "model-service")
    pod_labels: dict[str, Any] = deployment.doc["spec"]["template"]["metadata"]["labels"]
    labels = alloy_relabel(_alloy_config(cluster), pod_meta_labels(deployment.namespace or "", pod_labels))
    matchers = {(label, value) for label, value in _logql_matchers() if label in ("app", "namespace", "container")}
    assert ("app", "model-service") in matchers
    for label, value in matchers:
        if label == "namespace" and value != deployment.namespace:
            continue
        assert labels.get(label) == value, f'{{{label}="{value}"}} matches nothing: Alloy gives {labels}'


def _pod_specs(cluster: Cluster) -> list[tuple[Manifest, dict[str, Any]]]:
    kinds = ("Deployment", "StatefulSet", "DaemonSet", "Job")
    return [(m, m.doc["spec"]["template"]["spec"]) for kind in kinds for m in cluster.of_kind(kind)]


def _secret_references(spec: dict[str, Any]) -> list[tuple[str, str | None, bool]]:
    """(secret name, key or None for the whole secret, optional) of every container and volume."""
    found = []
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for item in container.get("env") or []:
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                found.append((ref["name"], ref["key"], bool(ref.get("optional"))))
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef")
            if ref:
                found.append((ref["name"], None, bool(ref.get("optional"))))
    for volume in spec.get("volumes") or []:
        secret = volume.get("secret")
        if secret:
            found.append((secret["secretName"], None, bool(secret.get("optional"))))
    return found


def _secrets_jobs_create(cluster: Cluster) -> set[tuple[str, str]]:
    """Secrets a rendered Job creates when it runs (kube-webhook-certgen's `create --secret-name=`)."""
    created = set()
    for job in cluster.of_kind("Job"):
        for container in job.doc["spec"]["template"]["spec"]["containers"]:
            args = container.get("args") or []
            if args[:1] == ["create"]:
                for arg in args:
                    if arg.startswith("--secret-name="):
                        created.add((arg.split("=", 1)[1], job.namespace or ""))
    return created


def test_every_secret_a_pod_reads_exists_with_its_key(cluster: Cluster) -> None:
    secrets: dict[tuple[str, str], set[str] | None] = {
        (m.name, m.namespace or ""): set((m.doc.get("data") or {}) | (m.doc.get("stringData") or {}))
        for m in cluster.of_kind("Secret")
    }
    secrets.update(dict.fromkeys(_secrets_jobs_create(cluster)))  # keys unknown until the Job runs
    checked = 0
    for workload, spec in _pod_specs(cluster):
        for name, key, optional in _secret_references(spec):
            if optional:
                continue
            where = (name, workload.namespace or "")
            assert where in secrets, f"{workload.kind} {workload.name} reads Secret {name}, which nothing creates"
            keys = secrets[where]
            assert key is None or keys is None or key in keys, f"{workload.name} reads {key} of {name}: it has {keys}"
            checked += 1
    assert checked >= 3


def test_the_model_service_gets_its_memory_limit_and_shared_feedback_key(cluster: Cluster) -> None:
    deployment = next(m for m in cluster.of_kind("Deployment") if m.name == "model-service")
    spec = deployment.doc["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert env["MEMORY_LIMIT_BYTES"]["valueFrom"]["resourceFieldRef"]["resource"] == "limits.memory"
    assert env["FEEDBACK_SIGNING_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "model-service-feedback"
    assert env["FEEDBACK_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "model-service-feedback"
    # The pod outlives the preStop pause, the drain and the graceful shutdown.
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    needed = pre_stop + float(env["SHUTDOWN_DRAIN_SECONDS"]["value"]) + int(env["GRACEFUL_SHUTDOWN_SECONDS"]["value"])
    assert spec["terminationGracePeriodSeconds"] > needed


def _quantity_bytes(quantity: str) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(float(quantity.removesuffix(suffix)) * factor)
    return int(quantity)


def test_the_model_service_accepts_the_settings_its_pod_gets(cluster: Cluster) -> None:
    """The environment the rendered pod would see (its memory limit resolved, secrets filled),
    read by the server's own settings parser: a chart value it would refuse fails here."""
    from model_service.settings import Settings

    deployment = next(m for m in cluster.of_kind("Deployment") if m.name == "model-service")
    (container,) = deployment.doc["spec"]["template"]["spec"]["containers"]
    environ = {}
    for item in container["env"]:
        source = item.get("valueFrom") or {}
        if "resourceFieldRef" in source:
            environ[item["name"]] = str(_quantity_bytes(container["resources"]["limits"]["memory"]))
        elif "secretKeyRef" in source:
            environ[item["name"]] = "x" * 40  # what the generated Secret holds (40 and 64 characters)
        elif "fieldRef" in source:
            environ[item["name"]] = "model-service-0"  # the pod's name
        else:
            environ[item["name"]] = item["value"]
    settings = Settings.from_env(environ)
    assert settings.memory_limit_bytes > 0 and settings.feedback_token
    assert settings.request_budget_bytes() >= settings.max_body_bytes

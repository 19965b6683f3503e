"""charts/model-service rendered by Helm's own SDK for every values set, validated against the
Kubernetes schemas, linted, scanned by checkov, and its dashboards and rules checked."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.support.chart_values import release_values
from tests.support.pulumi_harness import REPO
from tests.support.tools import require_tool

CHART = REPO / "charts" / "model-service"
VALUE_SETS = {"default": None, "local": "values-local.yaml", "dev": "values-dev.yaml", "prod": "values-prod.yaml"}
KUBERNETES_VERSION = "1.33.0"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}


def render(values: dict[str, Any] | None = None, values_file: str | None = None) -> list[dict[str, Any]]:
    merged = yaml.safe_load((CHART / values_file).read_text()) if values_file else {}
    merged.update(values or {})
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(merged, name="model-service", namespace="models")
    return [
        doc
        for name, text in sorted(manifests.items())
        if name.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


@pytest.fixture(scope="module", params=list(VALUE_SETS), ids=list(VALUE_SETS))
def manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(values_file=VALUE_SETS[request.param])


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def test_every_manifest_is_valid_against_the_kubernetes_schemas(manifests: list[dict[str, Any]]) -> None:
    kinds = {doc["kind"] for doc in manifests}
    assert {
        "Deployment",
        "Service",
        "ServiceAccount",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
    } <= kinds
    for doc in manifests:
        if doc["kind"] in CRD_KINDS:
            continue  # custom resources: checked below against what their operator expects
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_pods_are_hardened_probed_and_spread(manifests: list[dict[str, Any]]) -> None:
    pod = by_kind(manifests, "Deployment")[0]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert pod["terminationGracePeriodSeconds"] > int(env["GRACEFUL_SHUTDOWN_SECONDS"])
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }


def test_prod_spreads_strictly_and_keeps_two_pods_through_disruptions() -> None:
    # The replica bounds come from Pulumi.prod.yaml: render what the program installs.
    docs = render(release_values("prod")["model-service"]["values"])
    pod = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]
    zone = next(c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone")
    assert zone["whenUnsatisfiable"] == "DoNotSchedule"
    assert by_kind(docs, "PodDisruptionBudget")[0]["spec"]["minAvailable"] == 2
    hpa = by_kind(docs, "HorizontalPodAutoscaler")[0]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)


def test_local_runs_one_pod_without_autoscaling_or_pdb() -> None:
    docs = render(release_values("local")["model-service"]["values"])
    assert by_kind(docs, "Deployment")[0]["spec"]["replicas"] == 1
    assert not by_kind(docs, "HorizontalPodAutoscaler") and not by_kind(docs, "PodDisruptionBudget")


def test_irsa_annotation_and_model_uri_reach_the_pod() -> None:
    role = "arn:aws:iam::123456789012:role/mlops-dev-model-service"
    docs = render(
        {
            "serviceAccount": {"create": True, "name": "", "roleArn": role},
            "model": {"name": "wine-classifier", "uri": "s3://mlops-dev-models/wine/v1/model.tar.gz", "volume": {}},
        }
    )
    account = by_kind(docs, "ServiceAccount")[0]
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    pod = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    env = {item["name"]: item.get("value") for item in pod["containers"][0]["env"]}
    assert env["MODEL_URI"] == "s3://mlops-dev-models/wine/v1/model.tar.gz"


def test_network_policy_admits_monitoring_and_the_allowed_namespaces_only() -> None:
    docs = render(
        {"networkPolicy": {"enabled": True, "allowedNamespaces": ["gateway"], "monitoringNamespace": "monitoring"}}
    )
    policy = by_kind(docs, "NetworkPolicy")[0]["spec"]
    sources = policy["ingress"][0]["from"]
    namespaces = {
        s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for s in sources
        if "namespaceSelector" in s
    }
    assert namespaces == {"monitoring", "gateway"}
    assert policy["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]


def test_service_monitor_scrapes_the_service_port_with_the_stack_label(manifests: list[dict[str, Any]]) -> None:
    monitor = by_kind(manifests, "ServiceMonitor")[0]
    service = by_kind(manifests, "Service")[0]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_prometheus_rule_carries_exactly_the_rule_file(manifests: list[dict[str, Any]], tmp_path: Path) -> None:
    rule = by_kind(manifests, "PrometheusRule")[0]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    source = yaml.safe_load((CHART / "files" / "rules" / "model-service.rules.yaml").read_text())
    assert rule["spec"] == source
    promtool = require_tool("promtool", "apt-get install prometheus")
    extracted = tmp_path / "rules.yaml"
    extracted.write_text(yaml.safe_dump(rule["spec"]))
    check = subprocess.run([promtool, "check", "rules", str(extracted)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_dashboards_ship_as_sidecar_configmaps_in_their_folder(manifests: list[dict[str, Any]]) -> None:
    maps = [doc for doc in by_kind(manifests, "ConfigMap") if doc["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert {next(iter(doc["data"])) for doc in maps} == {"model-service.json", "model-quality.json"}
    for doc in maps:
        assert doc["metadata"]["annotations"]["grafana_folder"] == "Model service"
        json.loads(next(iter(doc["data"].values())))


def test_helm_lint_is_clean() -> None:
    assert helm.lint(str(CHART)) == {"total_charts_linted": 1, "messages": [], "errors": []}


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"image": {"repository": "x", "pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"replicaCount": 0}, "replicaCount"),
        ({"server": {"logLevel": "LOUD"}}, "logLevel"),
        ({"model": {"name": "wine-classifier", "uri": "https://example.com/model"}}, "uri"),
        ({"serviceAccount": {"roleArn": "admin"}}, "roleArn"),
        ({"replicas": 3}, "replicas"),
    ],
)
def test_a_value_that_breaks_the_schema_is_rejected(values: dict[str, Any], words: str) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmError) as caught:
        chart.render(values, name="model-service", namespace="models")
    assert words in str(caught.value)


def test_checkov_finds_nothing_beyond_the_justified_skips(manifests: list[dict[str, Any]], tmp_path: Path) -> None:
    checkov = shutil.which("checkov") or str(REPO / ".venv-tools" / "bin" / "checkov")
    if not Path(checkov).exists():
        require_tool("checkov", "make setup (installs checkov into .venv-tools/)")
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(manifests))
    result = subprocess.run(
        [checkov, "--config-file", str(CHART / ".checkov.yaml"), "-f", str(rendered), "-o", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "BC_SKIP_MAPPING": "TRUE",
            "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
        },
    )
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [(c["check_id"], c["resource"]) for c in report.get("results", {}).get("failed_checks", [])]
    assert failed == [], failed
    assert report["summary"]["passed"] > 50

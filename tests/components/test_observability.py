"""Observability and ModelService under mocks, per stack: charts, pinned versions, the values that
matter, IRSA scoping, secrets kept out of values, and the order things are installed in."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from components.observability import Receivers, alertmanager_config
from components.vendored_charts import ALLOY, KUBE_PROMETHEUS_STACK, LOKI, TEMPO
from tests.support.chart_values import write
from tests.support.pulumi_harness import REPO, StackRun, run_program, stack_config

SECRETS = {
    "alertSlackWebhookUrl": "https://hooks.slack.example/T0K3N-slack",
    "alertSmtpPassword": "smtp-pa55word",
    "alertWebhookUrl": "https://pager.example/hook-s3cret",
    "grafanaAdminPassword": "grafana-adm1n-pw",
}
RECEIVERS = {
    "alertSlackChannel": "#ml-oncall",
    "alertEmailTo": "oncall@example.com",
    "alertSmtpSmarthost": "smtp.example.com:587",
    "alertSmtpFrom": "alerts@example.com",
}


@pytest.fixture(scope="module", params=["local", "dev", "prod"])
def run(request: pytest.FixtureRequest) -> StackRun:
    return run_program(request.param, overrides=RECEIVERS, secrets=SECRETS)


def releases(run: StackRun) -> dict[str, dict[str, Any]]:
    return {r.inputs["name"]: r.inputs for r in run.of_type("kubernetes:helm.sh/v3:Release")}


def test_charts_install_from_the_vendored_archives_with_no_repository_on_the_path(run: StackRun) -> None:
    found = releases(run)
    for chart in (KUBE_PROMETHEUS_STACK, LOKI, TEMPO, ALLOY):
        release = found[chart.name]
        assert release["chart"] == f"charts/vendor/{chart.name}-{chart.version}.tgz"
        assert (REPO / release["chart"]).is_file()
        assert "repositoryOpts" not in release and "version" not in release
        assert release["namespace"] == "monitoring"
    assert found["model-service"]["chart"] == "charts/model-service"


def test_prometheus_selects_monitors_and_rules_from_every_namespace_and_persists(run: StackRun) -> None:
    spec = releases(run)["kube-prometheus-stack"]["values"]["prometheus"]["prometheusSpec"]
    for key in (
        "serviceMonitorSelectorNilUsesHelmValues",
        "ruleSelectorNilUsesHelmValues",
        "podMonitorSelectorNilUsesHelmValues",
    ):
        assert spec[key] is False
    assert spec["serviceMonitorNamespaceSelector"] == {} and spec["ruleNamespaceSelector"] == {}
    expected = {"local": ("2d", "10Gi"), "dev": ("7d", "20Gi"), "prod": ("30d", "200Gi")}[run.outputs["stack"]]
    volume = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert (spec["retention"], volume["resources"]["requests"]["storage"]) == expected
    assert volume.get("storageClassName") == (None if run.outputs["stack"] == "local" else "gp3")
    assert spec["resources"]["requests"] and spec["resources"]["limits"]
    values = releases(run)["kube-prometheus-stack"]["values"]
    assert values["nodeExporter"]["enabled"] and values["kubeStateMetrics"]["enabled"]


def test_no_secret_appears_in_any_values_or_plain_input(run: StackRun) -> None:
    every_release = json.dumps([r.inputs for r in run.of_type("kubernetes:helm.sh/v3:Release")])
    for secret in SECRETS.values():
        assert secret not in every_release
    grafana = releases(run)["kube-prometheus-stack"]["values"]["grafana"]
    assert grafana["admin"]["existingSecret"] == "grafana-admin"
    alertmanager = releases(run)["kube-prometheus-stack"]["values"]["alertmanager"]["alertmanagerSpec"]
    assert alertmanager == {**alertmanager, "useExistingSecret": True, "configSecret": "alertmanager-config"}
    assert run.outputs["grafanaAdminPassword"] == SECRETS["grafanaAdminPassword"]
    assert "grafanaAdminPassword" in run.secret_outputs


def test_alertmanager_routes_by_severity_with_a_null_watchdog_and_inhibition() -> None:
    config = yaml.safe_load(
        alertmanager_config(
            Receivers(
                slack_channel="#ml", email_to="a@example.com", smtp_smarthost="smtp:587", smtp_from="b@example.com"
            ),
            {"slack": "https://hooks/x", "smtp": "pw", "webhook": "https://hook/y"},
        )
    )
    routes = {route["matchers"][0]: route["receiver"] for route in config["route"]["routes"]}
    assert routes['alertname = "Watchdog"'] == "null"
    assert routes['severity = "critical"'] == "critical" and routes['severity = "warning"'] == "warning"
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    assert set(receivers["critical"]) == {"name", "slack_configs", "email_configs", "webhook_configs"}
    assert receivers["critical"]["slack_configs"][0]["api_url"] == "https://hooks/x"
    assert receivers["null"] == {"name": "null"}
    assert config["inhibit_rules"][0]["source_matchers"] == ['severity = "critical"']
    assert config["inhibit_rules"][0]["target_matchers"] == ['severity = "warning"']


def test_grafana_datasources_and_sidecars(run: StackRun) -> None:
    grafana = releases(run)["kube-prometheus-stack"]["values"]["grafana"]
    assert grafana["sidecar"]["dashboards"]["enabled"] and grafana["sidecar"]["datasources"]["enabled"]
    assert grafana["sidecar"]["dashboards"]["searchNamespace"] == "ALL"
    assert grafana["sidecar"]["datasources"]["alertmanager"]["enabled"] is True
    sources = {source["type"] for source in grafana["additionalDataSources"]}
    if run.outputs["awsEnabled"]:
        assert sources == {"loki", "tempo", "cloudwatch"}
        role = grafana["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert role.endswith("/observability-grafana-cloudwatch")
        subject = _trust_subject(run, "observability-grafana-cloudwatch")
        assert subject == "system:serviceaccount:monitoring:kube-prometheus-stack-grafana"
        assert grafana["serviceAccount"]["name"] == "kube-prometheus-stack-grafana"
        policy = run.one("aws:iam/rolePolicy:RolePolicy", "observability-grafana-cloudwatch-inline").inputs["policy"]
        actions = {a for statement in json.loads(policy)["Statement"] for a in statement["Action"]}
        assert all(
            a.split(":")[1].startswith(("Describe", "Get", "List", "StartQuery", "StopQuery", "Filter"))
            for a in actions
        ), actions
    else:
        assert sources == {"loki", "tempo"}, "no CloudWatch without AWS"
        assert "annotations" not in grafana["serviceAccount"]


def _trust_subject(run: StackRun, role_name: str) -> str:
    statement = json.loads(run.one("aws:iam/role:Role", role_name).inputs["assumeRolePolicy"])["Statement"][0]
    return next(value for key, value in statement["Condition"]["StringEquals"].items() if key.endswith(":sub"))


def test_loki_stores_in_the_logs_bucket_through_a_role_scoped_to_it(run: StackRun) -> None:
    values = releases(run)["loki"]["values"]
    loki = values["loki"]
    assert loki["schemaConfig"]["configs"][0]["store"] == "tsdb"
    assert loki["limits_config"]["allow_structured_metadata"] is True
    stack = run.outputs["stack"]
    assert loki["limits_config"]["retention_period"] == {"local": "48h", "dev": "72h", "prod": "720h"}[stack]
    assert values["deploymentMode"] == ("SimpleScalable" if stack == "prod" else "Monolithic")
    if not run.outputs["awsEnabled"]:
        # The in-cluster object store's logs bucket, with Loki's own user's credentials.
        assert loki["storage"]["bucketNames"] == {"chunks": "logs", "ruler": "logs"}
        assert loki["storage"]["s3"]["endpoint"] == "minio.storage.svc.cluster.local:9000"
        single = values["singleBinary"]
        assert single["extraEnvFrom"] == [{"secretRef": {"name": "loki-object-store"}}]
        assert "-config.expand-env=true" in single["extraArgs"] and single["replicas"] == 1
        secret = run.one("kubernetes:core/v1:Secret", "observability-loki-object-store")
        assert secret.inputs["metadata"] == {"name": "loki-object-store", "namespace": "monitoring"}
        return
    assert loki["storage"]["bucketNames"] == {"chunks": run.outputs["logsBucket"], "ruler": run.outputs["logsBucket"]}
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].endswith("/observability-loki")
    assert _trust_subject(run, "observability-loki") == "system:serviceaccount:monitoring:loki"
    policy = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", "observability-loki-inline").inputs["policy"])
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    bucket = f"arn:aws:s3:::{run.outputs['logsBucket']}"
    assert resources == {bucket, f"{bucket}/*", run.outputs["artifactsKmsKeyArn"]}


def test_alloy_ships_pod_logs_with_bounded_labels(run: StackRun) -> None:
    values = releases(run)["alloy"]["values"]
    assert values["controller"]["type"] == "daemonset"
    config = values["alloy"]["configMap"]["content"]
    labels = {line.split("=")[1].strip().strip('"') for line in config.splitlines() if "target_label" in line}
    assert labels == {"namespace", "pod", "container", "app"}
    assert "loki-gateway.monitoring.svc.cluster.local/loki/api/v1/push" in config


def test_install_order_crds_before_the_model_service_and_loki_before_alloy(run: StackRun) -> None:
    by_name = {r.name: r for r in run.of_type("kubernetes:helm.sh/v3:Release")}

    def waits_for(name: str, other: str) -> bool:
        return any(urn.endswith(f"::{other}") for urn in by_name[name].dependencies)

    assert waits_for("model-service-release", "observability-kube-prometheus-stack")
    assert waits_for("observability-loki", "observability-kube-prometheus-stack")
    assert waits_for("observability-alloy", "observability-loki")


def test_model_service_gets_the_registry_image_and_a_role_for_its_model_prefix_only() -> None:
    run = run_program("dev", overrides={"modelVersion": "20261124T120000Z-abcd1234", "modelServiceImageTag": "sha-1"})
    values = releases(run)["model-service"]["values"]
    assert values["image"]["repository"] == run.outputs["modelServiceRepositoryUrl"]
    assert values["image"]["tag"] == "sha-1"
    assert values["model"]["uri"] == f"s3://{run.outputs['modelsBucket']}/wine/20261124T120000Z-abcd1234/model.tar.gz"
    assert values["autoscaling"]["minReplicas"] == 1 and values["autoscaling"]["maxReplicas"] == 3
    assert values["serviceAccount"]["roleArn"].endswith("/model-service-model-reader")
    assert _trust_subject(run, "model-service-model-reader") == "system:serviceaccount:models:model-service"
    policy = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", "model-service-model-reader-inline").inputs["policy"])
    actions = {action for statement in policy["Statement"] for action in statement["Action"]}
    assert actions == {
        "s3:GetObject",
        "s3:ListBucket",
        "kms:Decrypt",
        "s3:PutObject",
        "kms:GenerateDataKey",
        "kms:Encrypt",
    }
    get = next(s for s in policy["Statement"] if s["Action"] == ["s3:GetObject"])
    assert get["Resource"] == [f"arn:aws:s3:::{run.outputs['modelsBucket']}/wine/*"]
    # Production data: put objects under the two prefixes of the capture bucket, nothing else.
    put = next(s for s in policy["Statement"] if s["Action"] == ["s3:PutObject"])
    capture = f"arn:aws:s3:::{run.outputs['captureBucket']}"
    assert put["Resource"] == [f"{capture}/cluster/model-service/*", f"{capture}/ground-truth/cluster/model-service/*"]
    data = values["productionData"]
    assert data["captureUri"] == f"s3://{run.outputs['captureBucket']}/cluster/model-service"
    assert data["groundTruthUri"] == f"s3://{run.outputs['captureBucket']}/ground-truth/cluster/model-service"
    assert data["capturePercent"] == 10


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_the_model_service_values_render_with_helm_into_valid_manifests(stack: str) -> None:
    values = releases(run_program(stack, overrides={"modelVersion": "v1"}))["model-service"]["values"]
    with helm.Chart.load(str(REPO / "charts" / "model-service")) as chart:
        manifests = chart.render(values, name="model-service", namespace="models")
    docs = [
        doc for name, text in manifests.items() if name.endswith(".yaml") for doc in yaml.safe_load_all(text) if doc
    ]
    for doc in docs:
        if doc["kind"] not in ("ServiceMonitor", "PrometheusRule"):
            kubernetes_validate.validate(doc, "1.33.0", strict=True)
    deployment = next(doc for doc in docs if doc["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "model-service"


def test_values_are_written_out_for_rendering_against_the_real_charts(tmp_path: Path) -> None:
    written = write("dev", tmp_path)
    assert {path.name for path in written} == {
        "kube-prometheus-stack.yaml",
        "loki.yaml",
        "tempo.yaml",
        "alloy.yaml",
        "model-service.yaml",
        "metrics-server.yaml",
        "aws-load-balancer-controller.yaml",
        "karpenter-crd.yaml",
        "karpenter.yaml",
    }
    header, body = (tmp_path / "dev" / "kube-prometheus-stack.yaml").read_text().split("\n", 1)
    assert (
        f"kube-prometheus-stack-{KUBE_PROMETHEUS_STACK.version}.tgz" in header
        and yaml.safe_load(body)["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    )


def test_grafana_reads_only_the_platforms_log_groups() -> None:
    run = run_program("prod", overrides={"modelVersion": "v1"})
    policy = json.loads(
        run.one("aws:iam/rolePolicy:RolePolicy", "observability-grafana-cloudwatch-inline").inputs["policy"]
    )
    log_reads = next(s for s in policy["Statement"] if "logs:GetLogEvents" in s["Action"])
    assert set(log_reads["Action"]) == {"logs:GetLogEvents", "logs:FilterLogEvents", "logs:StartQuery"}
    prefix = "arn:aws:logs:us-east-1:123456789012:log-group:"
    assert all(arn.startswith(prefix + "/aws/") and "mlops-prod" in arn for arn in log_reads["Resource"])
    created = [r.inputs["name"] for r in run.of_type("aws:cloudwatch/logGroup:LogGroup")]
    assert created
    for name in created:
        assert any(fnmatch.fnmatch(f"{prefix}{name}", pattern) for pattern in log_reads["Resource"]), (
            f"Grafana cannot read the platform's log group {name}"
        )
    everything = next(s for s in policy["Statement"] if s["Resource"] == "*")
    assert not any(action in everything["Action"] for action in log_reads["Action"])


def test_model_service_feedback_credentials_are_generated_secrets_the_release_points_at(run: StackRun) -> None:
    secret = run.one("kubernetes:core/v1:Secret", "model-service-feedback")
    assert secret.inputs["metadata"] == {"name": "model-service-feedback", "namespace": "models"}
    wrapped = secret.inputs["stringData"]
    assert wrapped["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"  # a Pulumi secret
    assert set(wrapped["value"]) == {"FEEDBACK_SIGNING_KEY", "FEEDBACK_TOKEN"}
    passwords = {r.name: r.inputs for r in run.of_type("random:index/randomPassword:RandomPassword")}
    assert passwords["model-service-feedback-signing-key"]["length"] >= 32
    assert passwords["model-service-feedback-token"]["length"] >= 16
    values = releases(run)["model-service"]["values"]
    assert values["feedback"]["existingSecret"] == "model-service-feedback"
    release = run.one("kubernetes:helm.sh/v3:Release", "model-service-release")
    assert secret.urn in release.dependencies
    assert "modelFeedbackToken" in run.secret_outputs


def test_traces_flow_from_alloy_to_tempo_and_link_to_logs_metrics_and_exemplars(run: StackRun) -> None:
    """Tempo keeps traces for tracesRetentionHours, in traces/ of the logs bucket through its own
    role on AWS (local disk else); Grafana links traces, logs and exemplars both ways; Prometheus
    stores exemplars."""
    values = releases(run)
    tempo = values["tempo"]["values"]
    config = stack_config(run.outputs["stack"])
    hours = config["mlops-platform:tracesRetentionHours"]
    assert tempo["tempo"]["retention"] == f"{hours}h"
    storage = tempo["tempo"]["storage"]["trace"]
    if run.outputs["awsEnabled"]:
        assert storage["backend"] == "s3" and storage["s3"]["bucket"] == run.outputs["logsBucket"]
        assert storage["s3"]["prefix"] == "traces"
        assert tempo["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].endswith("/observability-tempo")
        assert _trust_subject(run, "observability-tempo") == "system:serviceaccount:monitoring:tempo"
        policy = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", "observability-tempo-inline").inputs["policy"])
        objects = [s for s in policy["Statement"] if "s3:PutObject" in s["Action"]]
        assert [r.rsplit(":::", 1)[1] for r in objects[0]["Resource"]] == [f"{run.outputs['logsBucket']}/traces/*"]
    else:
        assert storage["backend"] == "local" and "annotations" not in tempo["serviceAccount"]

    stack = values["kube-prometheus-stack"]["values"]
    assert "exemplar-storage" in stack["prometheus"]["prometheusSpec"]["enableFeatures"]
    assert stack["grafana"]["sidecar"]["datasources"]["exemplarTraceIdDestinations"]["datasourceUid"] == "tempo"
    sources = {source["uid"]: source for source in stack["grafana"]["additionalDataSources"]}
    (derived,) = sources["loki"]["jsonData"]["derivedFields"]
    assert derived["datasourceUid"] == "tempo" and derived["url"] == "$${__value.raw}"
    line = '{"message":"request","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}'
    assert re.search(derived["matcherRegex"], line)[1] == "0af7651916cd43dd8448eb211c80319c"  # type: ignore[index]
    links = sources["tempo"]["jsonData"]
    assert links["tracesToLogsV2"]["datasourceUid"] == "loki" and links["tracesToLogsV2"]["filterByTraceID"]
    assert links["tracesToMetrics"]["datasourceUid"] == "prometheus"

    service = values["model-service"]["values"]
    assert service["tracing"]["otlpEndpoint"] == "http://alloy.monitoring.svc.cluster.local:4318"
    assert service["tracing"]["sampleRatio"] == float(config["mlops-platform:modelServiceTraceSampleRatio"])

"""Observability: kube-prometheus-stack, Loki, Tempo and Grafana Alloy in the `monitoring` namespace,
from the vendored charts (components/helm.py). Everything that needs the Prometheus operator's
CRDs (the model service's ServiceMonitor and PrometheusRule) depends on the kube-prometheus-stack
release.

Credentials never enter Helm values: the Grafana admin password and the Alertmanager
configuration (which holds the receivers' webhook URLs and SMTP password) are Kubernetes Secrets
made from Pulumi secrets, and the charts are pointed at them by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components import network_policies
from components.alloy import OTLP_HTTP_PORT, alloy_values
from components.artifact_store import StoredBucket
from components.helm import resources, vendored_release
from components.iam import ServiceAccountRoles, arn_partition, policy_document
from components.loki import OBJECT_STORE_SECRET as LOKI_OBJECT_STORE_SECRET
from components.loki import PODS as LOKI_PODS
from components.loki import SERVICE_ACCOUNT as LOKI_SERVICE_ACCOUNT
from components.loki import LokiSpec, loki_values
from components.object_store import S3Access
from components.retrain_relay import RETRAIN_ALERTS, RetrainRelay, RetrainRelayArgs, RetrainTrigger
from components.tempo import OTLP_GRPC_PORT, QUERY_PORT, tempo_policy, tempo_values
from components.tempo import SERVICE as TEMPO_SERVICE
from components.tempo import SERVICE_ACCOUNT as TEMPO_SERVICE_ACCOUNT
from components.vendored_charts import ALLOY, KUBE_PROMETHEUS_STACK, LOKI, TEMPO
from monitoring import names

# Dashboards over the CloudWatch datasource (built by `python -m monitoring`); shipped
# only where there is AWS.
AWS_DASHBOARDS = (Path(__file__).resolve().parent / "dashboards" / "managed-inference.json",)
AWS_DASHBOARD_FOLDER = "Managed inference"
NAMESPACE = "monitoring"
GRAFANA_ADMIN_SECRET = "grafana-admin"
ALERTMANAGER_SECRET = "alertmanager-config"
GRAFANA_SERVICE_ACCOUNT = "kube-prometheus-stack-grafana"


# Components a managed control plane keeps out of reach: EKS exposes no controller-manager,
# scheduler or etcd endpoints, and kube-proxy serves metrics on 127.0.0.1 only (kind binds all four
# to 127.0.0.1 too). Scraping them would only page: their ServiceMonitors and rules stay off.
HIDDEN_COMPONENTS_OFF = {
    "kubeControllerManager": {"enabled": False},
    "kubeScheduler": {"enabled": False},
    "kubeEtcd": {"enabled": False},
    "kubeProxy": {"enabled": False},
}
# Grafana's CloudWatch datasource. Metric reads and query polling take no resource-level
# permissions ("*"); log reads are scoped to the platform's own log groups.
CLOUDWATCH_METRIC_ACTIONS = (
    "cloudwatch:DescribeAlarms",
    "cloudwatch:GetMetricData",
    "cloudwatch:GetMetricStatistics",
    "cloudwatch:ListMetrics",
    "logs:DescribeLogGroups",
    "logs:GetQueryResults",
    "logs:StopQuery",
    "tag:GetResources",
    "ec2:DescribeRegions",
)
CLOUDWATCH_LOG_ACTIONS = ("logs:GetLogEvents", "logs:FilterLogEvents", "logs:StartQuery")
# Where the platform's components write logs, as name patterns (name_prefix filled in).
PLATFORM_LOG_GROUPS = (
    "/aws/eks/{prefix}-*",
    "/aws/vpc/{prefix}/*",
    "/aws/apigateway/{prefix}-*",
    "/aws/lambda/{prefix}-*",
    "/aws/sagemaker/Endpoints/{prefix}-*",
)


@dataclass(frozen=True)
class Receivers:
    """Alertmanager receivers; URLs and passwords are Pulumi secrets."""

    slack_channel: str = ""
    slack_webhook_url: pulumi.Output[str] | None = None
    email_to: str = ""
    smtp_smarthost: str = ""
    smtp_from: str = ""
    smtp_password: pulumi.Output[str] | None = None
    webhook_url: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class AwsIntegration:
    """What the stack needs from AWS; absent on a cluster without AWS (the local stack)."""

    region: str
    account_id: pulumi.Input[str]
    logs_bucket: StoredBucket
    irsa: ServiceAccountRoles


@dataclass(frozen=True)
class GrafanaIngress:
    """Grafana behind an Application Load Balancer (the AWS Load Balancer Controller's `alb` class):
    HTTPS only, with an ACM certificate for `hostname`; internal unless `allowed_cidrs` are given,
    then internet-facing and open to those ranges only."""

    hostname: str
    certificate_arn: str
    allowed_cidrs: Sequence[str] = ()

    @property
    def url(self) -> str:
        return f"https://{self.hostname}"


@dataclass(frozen=True)
class ObservabilitySpec:
    """What a stack decides about its observability stack (read by stacks.config.observability)."""

    prometheus_retention: str
    prometheus_storage_gi: int
    loki_retention_hours: int
    loki_scalable: bool
    # Memory of Loki's chunks and results caches in MB; 0 turns a cache off.
    loki_chunks_cache_mb: int
    loki_results_cache_mb: int
    traces_retention_hours: int
    # A Pulumi secret; None lets the component generate one.
    grafana_admin_password: pulumi.Output[str] | None = None
    # None: Grafana is reached by port-forward only (a cluster without a load balancer controller).
    grafana_ingress: GrafanaIngress | None = None


@dataclass(frozen=True)
class ObservabilityArgs:
    spec: ObservabilitySpec
    receivers: Receivers
    name_prefix: str
    storage_class: str | None
    aws: AwsIntegration | None = None
    namespace: str = NAMESPACE
    # What must run first: the load balancer controller's webhook mutates Services and Ingresses.
    after: Sequence[pulumi.Resource] = ()
    # Namespaces whose pods send traces to Alloy's OTLP receiver.
    trace_sources: Sequence[str] = ()
    extra_dashboard_namespaces: Sequence[str] = field(default_factory=tuple)
    # Loki's access to the in-cluster object store (stacks without AWS), and the store's release.
    object_store: S3Access | None = None
    object_store_release: pulumi.Resource | None = None
    # Drift and accuracy alerts start the retrain workflow through the relay (None: they do not).
    retrain: RetrainTrigger | None = None
    stack: str = ""


def alertmanager_config(receivers: Receivers, secrets: Mapping[str, str | None], retrain_url: str | None = None) -> str:
    """alertmanager.yaml: routes by severity, Watchdog to a null receiver, warnings inhibited by
    criticals of the same alert and namespace; with `retrain_url`, the retrain alerts also go to
    the relay there (with secrets["retrain"] as its bearer token), and on to the other routes."""

    def notify(send_resolved: bool) -> dict[str, Any]:
        receiver: dict[str, Any] = {}
        if receivers.slack_channel and secrets.get("slack"):
            receiver["slack_configs"] = [
                {
                    "api_url": secrets["slack"],
                    "channel": receivers.slack_channel,
                    "send_resolved": send_resolved,
                    "title": "{{ .CommonLabels.alertname }} ({{ .Status }})",
                    "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.runbook_url }}\n{{ end }}",
                }
            ]
        if receivers.email_to and secrets.get("smtp"):
            receiver["email_configs"] = [
                {
                    "to": receivers.email_to,
                    "from": receivers.smtp_from,
                    "smarthost": receivers.smtp_smarthost,
                    "auth_username": receivers.smtp_from,
                    "auth_password": secrets["smtp"],
                    "send_resolved": send_resolved,
                }
            ]
        if secrets.get("webhook"):
            receiver["webhook_configs"] = [{"url": secrets["webhook"], "send_resolved": send_resolved}]
        return receiver

    config = {
        "route": {
            "receiver": "warning",
            "group_by": ["namespace", "alertname"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"matchers": ['alertname = "Watchdog"'], "receiver": "null"},
                {"matchers": ['alertname = "InfoInhibitor"'], "receiver": "null"},
                {"matchers": ['severity = "critical"'], "receiver": "critical", "repeat_interval": "1h"},
                {"matchers": ['severity = "warning"'], "receiver": "warning"},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity = "warning"'],
                "equal": ["namespace", "alertname"],
            }
        ],
        "receivers": [{"name": "null"}, {"name": "critical", **notify(True)}, {"name": "warning", **notify(True)}],
    }
    if retrain_url is not None and secrets.get("retrain"):
        config["route"]["routes"].insert(  # type: ignore[index]
            0,
            {
                "matchers": [f'alertname =~ "{"|".join(RETRAIN_ALERTS)}"'],
                "receiver": "retrain",
                "continue": True,
                # The relay starts one run per incident; it need not hear of one more than daily.
                "repeat_interval": "24h",
            },
        )
        config["receivers"].append(  # type: ignore[attr-defined]
            {
                "name": "retrain",
                "webhook_configs": [
                    {
                        "url": retrain_url,
                        "send_resolved": False,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": secrets["retrain"]}},
                    }
                ],
            }
        )
    return yaml.safe_dump(config, sort_keys=False)


class Observability(pulumi.ComponentResource):
    """The Grafana observability stack on one cluster, wired to AWS where there is AWS."""

    namespace: str
    grafana_admin_password: pulumi.Output[str]
    prometheus_stack: k8s.helm.v3.Release
    grafana_service: str
    prometheus_service: str
    alertmanager_service: str
    loki_url: str
    # Where pods send OTLP/HTTP traces (Alloy's receiver).
    otlp_endpoint: str

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:observability:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = args.namespace
        namespace = network_policies.namespace(
            name,
            args.namespace,
            network_policies.monitoring(
                args.namespace,
                trace_sources=args.trace_sources,
                object_store_clients=LOKI_PODS if args.object_store else None,
            ),
            parent=self,
            after=args.after,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        loki_needs: list[pulumi.Resource] = []
        if args.object_store is not None:
            loki_needs.append(
                args.object_store.secret(
                    f"{name}-loki-object-store",
                    LOKI_OBJECT_STORE_SECRET,
                    args.namespace,
                    parent=self,
                    after=[namespace],
                )
            )
            if args.object_store_release is not None:
                loki_needs.append(args.object_store_release)

        if args.spec.grafana_admin_password is not None:
            password = args.spec.grafana_admin_password
        else:
            password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False, opts=child).result
        self.grafana_admin_password = pulumi.Output.secret(password)
        k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": args.namespace},
            string_data={"admin-user": "admin", "admin-password": self.grafana_admin_password},
            opts=in_namespace,
        )
        secrets = {
            "slack": args.receivers.slack_webhook_url,
            "smtp": args.receivers.smtp_password,
            "webhook": args.receivers.webhook_url,
        }
        retrain_url = None
        if args.retrain is not None:
            relay = RetrainRelay(
                f"{name}-retrain-relay",
                RetrainRelayArgs(args.retrain, args.namespace, args.stack, after=(namespace,)),
                opts=child,
            )
            secrets["retrain"] = relay.token
            retrain_url = relay.url
        present = {key: value for key, value in secrets.items() if value is not None}
        # Output.all() of nothing is a list, not a dict: start from an empty mapping then.
        resolved: pulumi.Output[Any] = pulumi.Output.all(**present) if present else pulumi.Output.from_input({})
        config: pulumi.Output[str] = resolved.apply(
            lambda values: alertmanager_config(args.receivers, values, retrain_url)
        )
        k8s.core.v1.Secret(
            f"{name}-alertmanager",
            metadata={"name": ALERTMANAGER_SECRET, "namespace": args.namespace},
            # Secret even with no receiver configured: the file is credentials-shaped by nature.
            string_data={"alertmanager.yaml": pulumi.Output.secret(config)},  # type: ignore[arg-type]
            opts=in_namespace,
        )

        loki_role_arn = grafana_role_arn = tempo_role_arn = None
        if args.aws is not None:
            loki_role_arn = self._loki_role(name, args.aws, args.namespace).arn
            tempo_role_arn = self._tempo_role(name, args.aws, args.namespace).arn
            grafana_role_arn = self._grafana_role(name, args.aws, args.namespace, args.name_prefix).arn

        if args.aws is not None:
            for dashboard in AWS_DASHBOARDS:
                k8s.core.v1.ConfigMap(
                    f"{name}-dashboard-{dashboard.stem}",
                    metadata={
                        "name": f"dashboard-{dashboard.stem}",
                        "namespace": args.namespace,
                        "labels": {"grafana_dashboard": "1"},
                        "annotations": {"grafana_folder": AWS_DASHBOARD_FOLDER},
                    },
                    data={dashboard.name: dashboard.read_text()},
                    opts=in_namespace,
                )

        self.prometheus_stack = vendored_release(
            name,
            KUBE_PROMETHEUS_STACK,
            namespace=args.namespace,
            values=self._prometheus_stack_values(args, grafana_role_arn),
            parent=self,
            depends_on=[namespace],
        )
        loki = vendored_release(
            name,
            LOKI,
            namespace=args.namespace,
            values=loki_values(
                LokiSpec(
                    args.spec.loki_retention_hours,
                    args.spec.loki_scalable,
                    args.spec.loki_chunks_cache_mb,
                    args.spec.loki_results_cache_mb,
                ),
                args.aws.logs_bucket if args.aws else None,
                args.aws.region if args.aws else None,
                loki_role_arn,
                args.object_store,
            ),
            parent=self,
            depends_on=[self.prometheus_stack, *loki_needs],
        )
        self.loki_url = f"http://loki-gateway.{args.namespace}.svc.cluster.local"
        tempo = vendored_release(
            name,
            TEMPO,
            namespace=args.namespace,
            values=tempo_values(
                args.spec.traces_retention_hours,
                args.aws.logs_bucket if args.aws else None,
                args.aws.region if args.aws else None,
                tempo_role_arn,
            ),
            parent=self,
            depends_on=[self.prometheus_stack],
        )
        tempo_host = f"{TEMPO_SERVICE}.{args.namespace}.svc.cluster.local"
        vendored_release(
            name,
            ALLOY,
            namespace=args.namespace,
            values=alloy_values(self.loki_url, f"{tempo_host}:{OTLP_GRPC_PORT}"),
            parent=self,
            depends_on=[loki, tempo],
        )
        self.otlp_endpoint = f"http://alloy.{args.namespace}.svc.cluster.local:{OTLP_HTTP_PORT}"
        self.grafana_service = "kube-prometheus-stack-grafana"
        self.prometheus_service = "kube-prometheus-stack-prometheus"
        self.alertmanager_service = "kube-prometheus-stack-alertmanager"
        self.register_outputs({"namespace": args.namespace, "grafanaService": self.grafana_service})

    def _loki_role(self, name: str, integration: AwsIntegration, namespace: str) -> aws.iam.Role:
        """Loki may read and write its own bucket and nothing else."""
        policy = pulumi.Output.all(integration.logs_bucket.arn, integration.logs_bucket.kms_key_arn).apply(
            lambda arns: policy_document(
                {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [arns[0]]},
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": [f"{arns[0]}/*"],
                },
                {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [arns[1]]},
            )
        )
        return integration.irsa.role(
            f"{name}-loki",
            namespace=namespace,
            service_account=LOKI_SERVICE_ACCOUNT,
            inline_policy=policy,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _tempo_role(self, name: str, integration: AwsIntegration, namespace: str) -> aws.iam.Role:
        """Tempo may keep blocks under traces/ of the logs bucket and nothing else."""
        policy = pulumi.Output.all(integration.logs_bucket.arn, integration.logs_bucket.kms_key_arn).apply(
            lambda arns: tempo_policy(arns[0], arns[1])
        )
        return integration.irsa.role(
            f"{name}-tempo",
            namespace=namespace,
            service_account=TEMPO_SERVICE_ACCOUNT,
            inline_policy=policy,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _grafana_role(self, name: str, integration: AwsIntegration, namespace: str, prefix: str) -> aws.iam.Role:
        """Grafana's CloudWatch datasource may read metrics, and the logs of this platform's log
        groups only."""

        def document(account_id: str) -> str:
            partition = arn_partition(integration.region)
            groups = [
                f"arn:{partition}:logs:{integration.region}:{account_id}:log-group:{pattern.format(prefix=prefix)}"
                for pattern in PLATFORM_LOG_GROUPS
            ]
            return policy_document(
                {"Effect": "Allow", "Action": list(CLOUDWATCH_METRIC_ACTIONS), "Resource": "*"},
                {"Effect": "Allow", "Action": list(CLOUDWATCH_LOG_ACTIONS), "Resource": groups},
            )

        return integration.irsa.role(
            f"{name}-grafana-cloudwatch",
            namespace=namespace,
            service_account=GRAFANA_SERVICE_ACCOUNT,
            inline_policy=pulumi.Output.from_input(integration.account_id).apply(document),
            opts=pulumi.ResourceOptions(parent=self),
        )

    @staticmethod
    def _prometheus_stack_values(
        args: ObservabilityArgs, grafana_role_arn: pulumi.Output[str] | None
    ) -> dict[str, Any]:
        storage: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{args.spec.prometheus_storage_gi}Gi"}},
        }
        if args.storage_class:
            storage["storageClassName"] = args.storage_class
        datasources = trace_linked_datasources(args.namespace)
        grafana_service_account: dict[str, Any] = {"name": GRAFANA_SERVICE_ACCOUNT}
        if args.aws is not None and grafana_role_arn is not None:
            datasources.append(
                {
                    "name": "CloudWatch",
                    "uid": "cloudwatch",
                    "type": "cloudwatch",
                    "jsonData": {"authType": "default", "defaultRegion": args.aws.region},
                }
            )
            grafana_service_account["annotations"] = {"eks.amazonaws.com/role-arn": grafana_role_arn}
        everywhere = {
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "ruleSelectorNilUsesHelmValues": False,
            "probeSelectorNilUsesHelmValues": False,
            "serviceMonitorNamespaceSelector": {},
            "podMonitorNamespaceSelector": {},
            "ruleNamespaceSelector": {},
            "serviceMonitorSelector": {},
            "ruleSelector": {},
        }
        return {
            "crds": {"enabled": True},
            "prometheus": {
                "prometheusSpec": {
                    **everywhere,
                    "retention": args.spec.prometheus_retention,
                    # Latency histograms carry trace ids as exemplars (OpenMetrics scrapes).
                    "enableFeatures": ["exemplar-storage"],
                    "exemplars": {"maxSize": 100_000},
                    "storageSpec": {"volumeClaimTemplate": {"spec": storage}},
                    "resources": resources("500m", "2Gi", "4Gi"),
                }
            },
            "alertmanager": {
                "alertmanagerSpec": {
                    "useExistingSecret": True,
                    "configSecret": ALERTMANAGER_SECRET,
                    "resources": resources("50m", "128Mi", "256Mi"),
                }
            },
            "grafana": {
                "admin": {
                    "existingSecret": GRAFANA_ADMIN_SECRET,
                    "userKey": "admin-user",
                    "passwordKey": "admin-password",
                },
                "serviceAccount": grafana_service_account,
                "sidecar": {
                    "resources": resources("20m", "64Mi", "128Mi"),
                    "dashboards": {
                        "enabled": True,
                        "label": "grafana_dashboard",
                        "labelValue": "1",
                        "searchNamespace": "ALL",
                        "folderAnnotation": "grafana_folder",
                        "provider": {"foldersFromFilesStructure": True},
                    },
                    "datasources": {
                        "enabled": True,
                        "defaultDatasourceEnabled": True,
                        "alertmanager": {"enabled": True},
                        # An exemplar on a latency panel opens its trace.
                        "exemplarTraceIdDestinations": {
                            "datasourceUid": TEMPO_UID,
                            "traceIdLabelName": "trace_id",
                            "urlDisplayLabel": "Trace",
                        },
                    },
                },
                "additionalDataSources": datasources,
                "ingress": grafana_ingress_values(args.spec.grafana_ingress),
                "resources": resources("100m", "256Mi", "512Mi"),
            },
            "nodeExporter": {"enabled": True},
            "kubeStateMetrics": {"enabled": True},
            "kube-state-metrics": {"resources": resources("50m", "128Mi", "256Mi")},
            "prometheus-node-exporter": {"resources": resources("20m", "32Mi", "64Mi")},
            "prometheusOperator": {
                "resources": resources("50m", "128Mi", "256Mi"),
                "admissionWebhooks": {"patch": {"resources": resources("10m", "32Mi", "64Mi")}},
            },
            **HIDDEN_COMPONENTS_OFF,
        }


LOKI_UID = "loki"
TEMPO_UID = "tempo"
PROMETHEUS_UID = "prometheus"  # kube-prometheus-stack's default datasource


def trace_linked_datasources(namespace: str) -> list[dict[str, Any]]:
    """Loki and Tempo, linked both ways: a log line's trace_id opens its trace; a span opens its
    logs (same namespace, same trace id) and its route's request metrics. (`$$` is a literal `$`
    in Grafana's provisioning files, which expand environment variables.)"""
    return [
        {
            "name": "Loki",
            "uid": LOKI_UID,
            "type": "loki",
            "access": "proxy",
            "url": f"http://loki-gateway.{namespace}.svc.cluster.local",
            "jsonData": {
                "maxLines": 1000,
                "derivedFields": [
                    {
                        "name": "trace_id",
                        "matcherRegex": '"trace_id":"([0-9a-f]{32})"',
                        "url": "$${__value.raw}",
                        "datasourceUid": TEMPO_UID,
                        "urlDisplayLabel": "Trace",
                    }
                ],
            },
        },
        {
            "name": "Tempo",
            "uid": TEMPO_UID,
            "type": "tempo",
            "access": "proxy",
            "url": f"http://{TEMPO_SERVICE}.{namespace}.svc.cluster.local:{QUERY_PORT}",
            "jsonData": {
                "tracesToLogsV2": {
                    "datasourceUid": LOKI_UID,
                    "tags": [{"key": "k8s.namespace.name", "value": "namespace"}],
                    "filterByTraceID": True,
                    "spanStartTimeShift": "-5m",
                    "spanEndTimeShift": "5m",
                },
                "tracesToMetrics": {
                    "datasourceUid": PROMETHEUS_UID,
                    "tags": [{"key": "http.route", "value": "route"}],
                    "queries": [
                        {"name": "Request rate", "query": f"sum(rate({names.REQUESTS.name}_total{{$$__tags}}[5m]))"},
                        {
                            "name": "p99 latency",
                            "query": "histogram_quantile(0.99, sum by (le) "
                            f"(rate({names.REQUEST_DURATION.name}_bucket{{$$__tags}}[5m])))",
                        },
                    ],
                },
                "lokiSearch": {"datasourceUid": LOKI_UID},
                "nodeGraph": {"enabled": True},
            },
        },
    ]


def grafana_ingress_values(ingress: GrafanaIngress | None) -> dict[str, Any]:
    """The chart's Ingress for Grafana: an ALB listening on HTTPS only (no plain HTTP listener),
    health-checked on Grafana's own endpoint."""
    if ingress is None:
        return {"enabled": False}
    annotations = {
        "alb.ingress.kubernetes.io/scheme": "internet-facing" if ingress.allowed_cidrs else "internal",
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]',
        "alb.ingress.kubernetes.io/certificate-arn": ingress.certificate_arn,
        "alb.ingress.kubernetes.io/ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "alb.ingress.kubernetes.io/healthcheck-path": "/api/health",
    }
    if ingress.allowed_cidrs:
        annotations["alb.ingress.kubernetes.io/inbound-cidrs"] = ",".join(ingress.allowed_cidrs)
    return {
        "enabled": True,
        "ingressClassName": "alb",
        "annotations": annotations,
        "hosts": [ingress.hostname],
        "path": "/",
        "pathType": "Prefix",
    }


def port_forward_command(namespace: str, service: str, local_port: int, remote_port: int) -> str:
    return f"kubectl -n {namespace} port-forward svc/{service} {local_port}:{remote_port}"

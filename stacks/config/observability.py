"""Config of the observability area: Prometheus, Loki and Tempo retention and size, Grafana's login."""

from __future__ import annotations

import re

from components.observability import GrafanaIngress, ObservabilitySpec
from stacks.config.aws_catalog import check_allowed_range
from stacks.config.reader import Reader

_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def read(reader: Reader, aws_enabled: bool) -> ObservabilitySpec:
    retention = reader.string("prometheusRetention")
    if retention and not re.fullmatch(r"\d+(h|d|w|y)", retention):
        reader.problem("prometheusRetention", retention, "must be a Prometheus duration such as 15d, 72h or 4w")
    return ObservabilitySpec(
        prometheus_retention=retention,
        prometheus_storage_gi=reader.integer("prometheusStorageGi", minimum=1, maximum=16384),
        loki_retention_hours=reader.integer("lokiRetentionHours", minimum=24),
        loki_scalable=reader.boolean("lokiScalable"),
        loki_chunks_cache_mb=reader.integer("lokiChunksCacheMb", minimum=0, maximum=65536),
        loki_results_cache_mb=reader.integer("lokiResultsCacheMb", minimum=0, maximum=65536),
        traces_retention_hours=reader.integer("tracesRetentionHours", minimum=1, maximum=8760),
        grafana_admin_password=reader.secret("grafanaAdminPassword"),
        grafana_ingress=_grafana_ingress(reader, aws_enabled),
    )


def _grafana_ingress(reader: Reader, aws_enabled: bool) -> GrafanaIngress | None:
    """On AWS Grafana is served over HTTPS only: the hostname and its ACM certificate are required."""
    hostname = reader.string("grafanaHostname")
    certificate = reader.string("grafanaCertificateArn")
    cidrs = reader.string_list("grafanaAllowedCidrs")
    reader.each("grafanaAllowedCidrs", cidrs, check_allowed_range("Grafana"))
    if not aws_enabled:
        return None
    if not _HOSTNAME.match(hostname):
        reader.problem(
            "grafanaHostname",
            hostname,
            "required on AWS stacks: the DNS name Grafana is served at (grafana.example.com)",
        )
    if not _ACM_ARN.match(certificate):
        reader.problem(
            "grafanaCertificateArn",
            certificate,
            "required on AWS stacks (Grafana is served over HTTPS only): the ARN of an ACM certificate for "
            "grafanaHostname, in the stack's region",
        )
    return GrafanaIngress(hostname, certificate, cidrs)

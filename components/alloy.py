"""Grafana Alloy's values: a DaemonSet shipping every pod's logs to Loki through the Kubernetes API,
and receiving the pods' traces over OTLP/HTTP for Tempo."""

from __future__ import annotations

from typing import Any

from components.helm import resources

ALLOY_CONFIG = """
discovery.kubernetes "pods" {
  role = "pod"
  selectors {
    role  = "pod"
    field = "spec.nodeName=" + coalesce(sys.env("HOSTNAME"), constants.hostname)
  }
}

discovery.relabel "pods" {
  targets = discovery.kubernetes.pods.targets
  rule {
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }
  // app: the recommended app.kubernetes.io/name label, or a plain `app` label where a pod has one.
  rule {
    source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    target_label  = "app"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_label_app"]
    regex         = "(.+)"
    target_label  = "app"
  }
}

loki.source.kubernetes "pods" {
  targets    = discovery.relabel.pods.output
  forward_to = [loki.write.default.receiver]
}

loki.write "default" {
  endpoint {
    url = "LOKI_URL/loki/api/v1/push"
  }
}
"""

# Traces: OTLP/HTTP in from the pods, batched, OTLP/gRPC out to Tempo.
TRACES_CONFIG = """
otelcol.receiver.otlp "pods" {
  http {
    endpoint = "0.0.0.0:OTLP_HTTP_PORT"
  }
  output {
    traces = [otelcol.processor.batch.traces.input]
  }
}

otelcol.processor.batch "traces" {
  output {
    traces = [otelcol.exporter.otlp.tempo.input]
  }
}

otelcol.exporter.otlp "tempo" {
  client {
    endpoint = "TEMPO_ENDPOINT"
    tls {
      insecure = true
    }
  }
}
"""
# Where the pods send traces: this port on the Alloy Service.
OTLP_HTTP_PORT = 4318
OTLP_PORT_NAME = "otlp-http"


def alloy_values(loki_url: str, tempo_endpoint: str) -> dict[str, Any]:
    """Alloy as a DaemonSet reading every pod's logs through the Kubernetes API, with bounded labels
    only (namespace, pod, container, app), and forwarding OTLP traces to Tempo (`host:port`)."""
    traces = TRACES_CONFIG.replace("OTLP_HTTP_PORT", str(OTLP_HTTP_PORT)).replace("TEMPO_ENDPOINT", tempo_endpoint)
    content = ALLOY_CONFIG.replace("LOKI_URL", loki_url).strip() + "\n" + traces
    return {
        "controller": {"type": "daemonset"},
        "alloy": {
            "configMap": {"create": True, "content": content},
            "extraPorts": [
                {"name": OTLP_PORT_NAME, "port": OTLP_HTTP_PORT, "targetPort": OTLP_HTTP_PORT, "protocol": "TCP"}
            ],
            "mounts": {"varlog": False},
            "resources": resources("50m", "128Mi", "256Mi"),
            # It reads logs through the Kubernetes API, not from the node: no root needed.
            "securityContext": {"runAsNonRoot": True, "runAsUser": 473, "runAsGroup": 473},
        },
        "configReloader": {"resources": resources("10m", "32Mi", "64Mi")},
    }

"""metrics-server: the resource metrics API (metrics.k8s.io) that CPU- and memory-based
HorizontalPodAutoscalers read; without it they report `<unknown>` and never scale."""

from __future__ import annotations

from typing import Any

from components.helm import resources

NAME = "metrics-server"
NAMESPACE = "kube-system"


def values(kubelet_insecure_tls: bool) -> dict[str, Any]:
    """kind's kubelets serve self-signed certificates; EKS's are signed by the cluster CA."""
    return {
        "args": ["--kubelet-insecure-tls"] if kubelet_insecure_tls else [],
        "resources": resources("100m", "200Mi", "400Mi"),
    }

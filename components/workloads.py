"""Small workloads the program defines itself (not through a chart): their common shape and the
container security every one of them runs with."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# What every container the program defines itself runs with: no privilege escalation, no Linux
# capabilities, a read-only root filesystem (writable paths are emptyDir volumes).
LOCKED_DOWN_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def single_replica_deployment(
    resource_name: str,
    *,
    name: str,
    namespace: str,
    labels: dict[str, str],
    pod: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.apps.v1.Deployment:
    """A one-replica Deployment of `pod`, selected by `labels` (a small helper workload)."""
    return k8s.apps.v1.Deployment(
        resource_name,
        metadata={"name": name, "namespace": namespace, "labels": labels},
        spec={
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
        opts=opts,
    )

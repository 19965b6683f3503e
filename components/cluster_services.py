"""ClusterServices: the in-cluster add-ons a platform cluster needs whatever runs on it, installed
from vendored charts (one module each under components/addons/): metrics-server on every stack."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.addons import metrics_server
from components.helm import vendored_release
from components.vendored_charts import METRICS_SERVER


@dataclass(frozen=True)
class ClusterServicesArgs:
    # A local (kind) cluster's kubelets serve self-signed certificates.
    local_cluster: bool


class ClusterServices(pulumi.ComponentResource):
    metrics_server: k8s.helm.v3.Release

    def __init__(self, name: str, args: ClusterServicesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:cluster:ClusterServices", name, None, opts)
        self.metrics_server = vendored_release(
            name,
            METRICS_SERVER,
            namespace=metrics_server.NAMESPACE,
            values=metrics_server.values(kubelet_insecure_tls=args.local_cluster),
            parent=self,
            timeout=300,
        )
        self.register_outputs({})

"""Cluster add-ons, one module each, and the registry of what a cluster installs and when.

Each EKS-managed add-on module offers `install(cluster, depends_on)`, creating its resources as
children of the Cluster component (so their URNs stay where they were when they lived inline). The phases
follow what nodes need: the CNI and kube-proxy before any node can become Ready; CoreDNS and the
EBS CSI controller need Ready nodes to become ACTIVE.
"""

from __future__ import annotations

from components.addons import (
    coredns,
    ebs_csi,
    karpenter,
    kube_proxy,
    load_balancer_controller,
    metrics_server,
    vpc_cni,
)
from components.addons.base import Addon, ClusterHandle

# Installed once the control plane exists, before the node groups.
BEFORE_NODES: tuple[Addon, ...] = (vpc_cni.ADDON, kube_proxy.ADDON)
# Installed once the node groups exist.
AFTER_NODES: tuple[Addon, ...] = (coredns.ADDON, ebs_csi.ADDON)
# Installed from vendored charts by components/cluster_services.py: on every stack, and on EKS only.
IN_CLUSTER: tuple[str, ...] = (metrics_server.NAME,)
ON_EKS: tuple[str, ...] = (load_balancer_controller.NAME, karpenter.NAME)

__all__ = ["AFTER_NODES", "BEFORE_NODES", "IN_CLUSTER", "ON_EKS", "Addon", "ClusterHandle"]

"""Every pod the stack runs fits the stack's nodes: each pod beside the DaemonSets on the smallest
node type it may land on, and all of them at their maximum scale within the node groups' maximum
size. Allocatable figures: tests/support/node_types.py."""

from __future__ import annotations

from typing import Any

from tests.support.cluster_render import Cluster, Manifest, render_stack
from tests.support.node_types import KIND_NODE, NODE_TYPES, NodeType

_MEMORY = {
    "Ki": 1 / 1024,
    "Mi": 1,
    "Gi": 1024,
    "Ti": 1024**2,
    "K": 1000 / 1024**2,
    "M": 1000**2 / 1024**2,
    "G": 1000**3 / 1024**2,
    "": 1 / 1024**2,
}


def cpu_millicores(quantity: Any) -> float:
    text = str(quantity)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


def memory_mib(quantity: Any) -> float:
    text = str(quantity)
    for suffix in ("Ki", "Mi", "Gi", "Ti", "K", "M", "G", ""):
        if suffix and text.endswith(suffix):
            return float(text[: -len(suffix)]) * _MEMORY[suffix]
    return float(text) * _MEMORY[""]


def pod_requests(pod_spec: dict[str, Any]) -> tuple[float, float]:
    """(CPU millicores, memory MiB) the scheduler reserves for one pod: the sum of its containers,
    or its largest init container if that is more."""

    def total(containers: list[dict[str, Any]], reduce: Any) -> tuple[float, float]:
        requests = [(c.get("resources") or {}).get("requests") or {} for c in containers]
        cpus = [cpu_millicores(r.get("cpu", 0)) for r in requests] or [0]
        mems = [memory_mib(r.get("memory", 0)) for r in requests] or [0]
        return reduce(cpus), reduce(mems)

    cpu, memory = total(pod_spec.get("containers", []), sum)
    init_cpu, init_memory = total(pod_spec.get("initContainers", []), max)
    return max(cpu, init_cpu), max(memory, init_memory)


# The Prometheus operator runs its config-reloader beside each Prometheus and Alertmanager with
# these requests (its defaults).
RELOADER = {"name": "config-reloader", "resources": {"requests": {"cpu": "10m", "memory": "50Mi"}}}


def _pod_spec(manifest: Manifest) -> dict[str, Any]:
    if manifest.kind in ("Prometheus", "Alertmanager"):
        main = {"name": manifest.kind.lower(), "resources": manifest.doc["spec"].get("resources", {})}
        return {"containers": [main, RELOADER]}
    return manifest.doc["spec"]["template"]["spec"]


def _workloads(cluster: Cluster) -> list[Manifest]:
    """Everything that runs pods on a schedule of its own: what charts render, and the Prometheus
    and Alertmanager the operator makes from their custom resources."""
    kinds = ("Deployment", "StatefulSet", "Prometheus", "Alertmanager")
    return [m for kind in kinds for m in cluster.of_kind(kind)]


def _max_replicas(cluster: Cluster, manifest: Manifest) -> int:
    for hpa in cluster.of_kind("HorizontalPodAutoscaler"):
        target = hpa.doc["spec"]["scaleTargetRef"]
        if target["kind"] == manifest.kind and target["name"] == manifest.name and hpa.namespace == manifest.namespace:
            return int(hpa.doc["spec"]["maxReplicas"])
    return int(manifest.doc["spec"].get("replicas", 1))


def node_pools(cluster: Cluster) -> list[tuple[list[NodeType], int]]:
    """(node types, most nodes) of each group the stack's pods can land on."""
    groups = cluster.run.of_type("aws:eks/nodeGroup:NodeGroup")
    if not groups:
        return [([KIND_NODE], 1)]
    return [
        ([NODE_TYPES[name] for name in group.inputs["instanceTypes"]], int(group.inputs["scalingConfig"]["maxSize"]))
        for group in groups
    ]


def pods_that_do_not_fit(cluster: Cluster) -> list[str]:
    types = [node for types, _ in node_pools(cluster) for node in types]
    smallest = min(types, key=lambda node: (node.memory_mib, node.cpu_millicores))
    daemons = [pod_requests(_pod_spec(m)) for m in cluster.of_kind("DaemonSet")]
    daemon_cpu, daemon_memory = sum(d[0] for d in daemons), sum(d[1] for d in daemons)
    too_big = []
    for manifest in _workloads(cluster):
        cpu, memory = pod_requests(_pod_spec(manifest))
        if cpu + daemon_cpu > smallest.cpu_millicores or memory + daemon_memory > smallest.memory_mib:
            too_big.append(
                f"{manifest.source} {manifest.kind}/{manifest.name}: {cpu:.0f}m {memory:.0f}Mi beside the "
                f"DaemonSets on {smallest.name} ({smallest.cpu_millicores}m, {smallest.memory_mib}Mi)"
            )
    return too_big


def test_every_pod_fits_the_smallest_node_beside_the_daemonsets(cluster: Cluster) -> None:
    assert pods_that_do_not_fit(cluster) == []


def test_everything_at_its_maximum_scale_fits_the_node_groups_at_theirs(cluster: Cluster) -> None:
    pools = node_pools(cluster)
    nodes = sum(count for _, count in pools)
    capacity_cpu = sum(min(t.cpu_millicores for t in types) * count for types, count in pools)
    capacity_memory = sum(min(t.memory_mib for t in types) * count for types, count in pools)
    # Karpenter adds nodes up to its NodePools' limits.
    for pool in cluster.of_kind("NodePool"):
        limits = pool.doc["spec"].get("limits", {})
        capacity_cpu += int(cpu_millicores(limits.get("cpu", 0)))
        capacity_memory += int(memory_mib(limits.get("memory", 0)))
    cpu = memory = 0.0
    for manifest in _workloads(cluster):
        pod_cpu, pod_memory = pod_requests(_pod_spec(manifest))
        replicas = _max_replicas(cluster, manifest)
        cpu, memory = cpu + pod_cpu * replicas, memory + pod_memory * replicas
    for manifest in cluster.of_kind("DaemonSet"):
        pod_cpu, pod_memory = pod_requests(_pod_spec(manifest))
        cpu, memory = cpu + pod_cpu * nodes, memory + pod_memory * nodes
    assert cpu <= capacity_cpu, f"{cpu:.0f}m requested, {capacity_cpu}m on {nodes} nodes"
    assert memory <= capacity_memory, f"{memory:.0f}Mi requested, {capacity_memory}Mi on {nodes} nodes"


def test_lokis_default_chunks_cache_does_not_fit_a_dev_node() -> None:
    """The check can fail: Loki's default chunks cache (8192 MB, requested at 1.2x: 9830Mi, plus its
    exporter's 32Mi) fits no dev node."""
    too_big = pods_that_do_not_fit(render_stack("dev", (("lokiChunksCacheMb", 8192),)))
    assert len(too_big) == 1 and "StatefulSet/loki-chunks-cache: " in too_big[0] and "9862Mi" in too_big[0], too_big

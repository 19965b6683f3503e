"""Allocatable CPU and memory of the node types the stacks run, as the kubelet reports them.

EKS (AL2023, VPC CNI without prefix delegation), from the EKS AMI's own rules:
- max pods = ENIs x (IPv4 addresses per ENI - 1) + 2 (the AMI's eni-max-pods table, from EC2's
  per-type ENI limits);
- kube-reserved memory = 255 MiB + 11 MiB per max pod; eviction threshold 100 MiB;
- kube-reserved CPU = 6% of the first core, 1% of the second, 0.5% of the third and fourth,
  0.25% of every further core;
- memory capacity is what the kernel reports, about 94% of the nominal size on these types.
The local stack's kind node is a container on the laptop: 4 CPUs and 8 GiB given to Docker,
less the 100 MiB eviction threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

EVICTION_MIB = 100
KERNEL_SHARE = 0.94


@dataclass(frozen=True)
class NodeType:
    name: str
    vcpus: int
    memory_gib: float
    max_pods: int
    managed: bool = True  # an EKS node (kube-reserved applies)

    @property
    def cpu_millicores(self) -> int:
        if not self.managed:
            return self.vcpus * 1000
        reserved = 0.0
        for core in range(self.vcpus):
            reserved += 60 if core == 0 else 10 if core == 1 else 5 if core < 4 else 2.5
        return int(self.vcpus * 1000 - reserved)

    @property
    def memory_mib(self) -> int:
        if not self.managed:
            return int(self.memory_gib * 1024) - EVICTION_MIB
        capacity = self.memory_gib * 1024 * KERNEL_SHARE
        return int(capacity - (255 + 11 * self.max_pods) - EVICTION_MIB)


NODE_TYPES = {
    node.name: node
    for node in (
        NodeType("t3.large", 2, 8, 35),
        NodeType("m5.large", 2, 8, 29),
        NodeType("m6i.large", 2, 8, 29),
        NodeType("m6a.large", 2, 8, 29),
        NodeType("m6i.xlarge", 4, 16, 58),
        NodeType("kind-4cpu-8gib", 4, 8, 110, managed=False),
    )
}
KIND_NODE = NODE_TYPES["kind-4cpu-8gib"]

"""Every upstream Helm chart the platform installs, vendored as its released archive in
charts/vendor/: name, version and sha256 in this one place. Releases install from the archive, so
a deploy installs exactly what the tests rendered and no chart repository is on the path.

To bump a chart: `helm pull <repo>/<chart> --version <new>` into charts/vendor/, delete the old
archive, put the new version and `sha256sum` here, then run `make test` (tests/cluster renders
every release with the new templates and the values the program builds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "charts" / "vendor"


@dataclass(frozen=True)
class VendoredChart:
    name: str
    version: str
    sha256: str
    # Where it comes from, for the next bump.
    repository: str

    @property
    def archive(self) -> Path:
        return VENDOR / f"{self.name}-{self.version}.tgz"


KUBE_PROMETHEUS_STACK = VendoredChart(
    "kube-prometheus-stack",
    "88.5.3",
    "069f85ac0fff627c1a9d414018bec23b179c8052d35921d94da9c20f5b8f7ab1",
    "https://prometheus-community.github.io/helm-charts",
)
# The OSS Loki chart is maintained by the Grafana community repository since 2026-03.
LOKI = VendoredChart(
    "loki",
    "18.11.0",
    "563bc17f0cfb90db7e06501a318cb7885a3e147bdf149b596f4fbe7bea5cf83b",
    "https://grafana-community.github.io/helm-charts",
)
ALLOY = VendoredChart(
    "alloy",
    "1.11.1",
    "364ab478e6781b7ab7d8cd8a1fb3d5d1fa307c74aadbbd6f9f6db2e8e2fe65bc",
    "https://grafana.github.io/helm-charts",
)
# Tempo's single-binary chart, maintained by the Grafana community repository like Loki's.
TEMPO = VendoredChart(
    "tempo",
    "2.2.4",
    "80edb9f1e10779d9e25643ff47a3ba3933cb51c99fd09701c760f5b770974a83",
    "https://grafana-community.github.io/helm-charts",
)
METRICS_SERVER = VendoredChart(
    "metrics-server",
    "3.13.1",
    "0d136f565a9cf6c841d4670edf6195c9dd3fc238912866e8f3f712212ec98c8b",
    "https://kubernetes-sigs.github.io/metrics-server",
)
KARPENTER = VendoredChart(
    "karpenter",
    "1.14.1",
    "e81d26accb26a03e1a43ff124d02810bdc0bc069178007ba5496882bf0d10f9c",
    "oci://public.ecr.aws/karpenter",
)
KARPENTER_CRD = VendoredChart(
    "karpenter-crd",
    "1.14.1",
    "077c53c50347c969187750512605b0bdb94541beec4c184ce8d06d3efe4aeec5",
    "oci://public.ecr.aws/karpenter",
)
AWS_LOAD_BALANCER_CONTROLLER = VendoredChart(
    "aws-load-balancer-controller",
    "3.5.0",
    "1a3d5601be1b7baebe6863183e841845e8ea210280d9fe60ff1250c73f2971a8",
    "https://aws.github.io/eks-charts",
)
# MinIO, the S3 of clusters without AWS (the local stack). The Loki release archive carries the
# official chart as its `charts/minio` dependency; this archive is that directory, packed alone.
MINIO = VendoredChart(
    "minio",
    "5.4.0",
    "a04fa075a7b81a7a0137bec30dada61bf27d85b1e820cefaacc7a45aff2b49ce",
    "https://charts.min.io",
)

ALL = (
    KUBE_PROMETHEUS_STACK,
    LOKI,
    ALLOY,
    TEMPO,
    METRICS_SERVER,
    KARPENTER,
    KARPENTER_CRD,
    AWS_LOAD_BALANCER_CONTROLLER,
    MINIO,
)

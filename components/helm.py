"""Helm releases of vendored charts (components/vendored_charts.py).

Every chart is installed with `helm.v3.Release`, not `helm.v4.Chart`: kube-prometheus-stack ships
its CRDs in `crds/` and runs admission-webhook Jobs as Helm hooks, and Loki uses hooks too; a
Release runs Helm's own install (CRDs first, hooks in order) and is one resource to depend on.

Chart paths are relative to the project directory (where the Pulumi CLI runs the program), so the
state does not change with the checkout's location on a machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.vendored_charts import VendoredChart

PROJECT_DIR = Path(__file__).resolve().parent.parent


def project_path(path: Path) -> str:
    """`path` as the program names it: relative to the project directory."""
    return str(path.relative_to(PROJECT_DIR))


def vendored_release(
    name: str,
    chart: VendoredChart,
    *,
    namespace: str,
    values: dict[str, Any],
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    timeout: int = 900,
) -> k8s.helm.v3.Release:
    """The release `chart.name` of the vendored archive, as child `<name>-<chart>` of `parent`."""
    return k8s.helm.v3.Release(
        f"{name}-{chart.name}",
        name=chart.name,
        namespace=namespace,
        chart=project_path(chart.archive),
        values=values,
        timeout=timeout,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


def resources(cpu: str, memory: str, memory_limit: str) -> dict[str, Any]:
    """Requests for scheduling and a memory limit for every container: a leak ends in a restart of
    that container, not in a node under memory pressure. (No CPU limit: it only throttles.)"""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}

"""Kubernetes: what every pod may do, on workloads and in what every Helm release renders;
namespaces that deny by default; this repository's chart's stricter limits."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pulumi_policy import (
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .common import (
    Report,
    _resource_policy,
    _stack_policy,
)
from .rendering import chart_path, render_release

OUR_CHARTS = ("model-service",)
WORKLOAD_TYPES = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            _merge(merged[key], value) if isinstance(value, Mapping) and isinstance(merged.get(key), dict) else value
        )
    return merged


def _chart_values(chart: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values a release of a local chart runs with: the chart's values.yaml under the release's."""
    defaults_file = chart_path(chart) / "values.yaml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.is_file() else {}
    return _merge(defaults or {}, values)


def _our_chart_runs_nonroot_with_limits(args: ResourceValidationArgs, report: Report) -> None:
    chart = str(args.props.get("chart", ""))
    if Path(chart).name not in OUR_CHARTS:
        return
    values = _chart_values(chart, args.props.get("values") or {})
    limits = (values.get("resources") or {}).get("limits") or {}
    if not (limits.get("cpu") and limits.get("memory")):
        report(
            f"release {args.name} of {Path(chart).name} runs without CPU and memory limits (values.resources.limits)"
        )
    for key in ("podSecurityContext", "securityContext"):
        if (values.get(key) or {}).get("runAsNonRoot") is False or (values.get(key) or {}).get("runAsUser") == 0:
            report(f"release {args.name} of {Path(chart).name} runs as root (values.{key})")


POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
HOST_ACCESS = ("hostNetwork", "hostPID", "hostIPC")
# Named, reasoned exceptions: (release, kind, name) -> what it may do and why.
POD_SECURITY_EXEMPTIONS: dict[tuple[str, str, str], tuple[frozenset[str], str]] = {
    ("kube-prometheus-stack", "DaemonSet", "kube-prometheus-stack-prometheus-node-exporter"): (
        frozenset({"hostNetwork", "hostPID", "hostPath"}),
        "node-exporter reports the node itself: its network, processes and file systems (/proc, /sys, /)",
    ),
}


def pod_security_problems(pod: Mapping[str, Any], allowed: frozenset[str] = frozenset()) -> list[str]:
    """What a pod spec does that the cluster's pods may not: share the node's namespaces, mount
    its paths, run privileged or as root, add capabilities, or run without a memory limit."""
    problems = [f"uses {key}" for key in HOST_ACCESS if pod.get(key) and key not in allowed]
    if "hostPath" not in allowed:
        problems += [
            f"mounts the node's {volume['hostPath'].get('path')} (hostPath)"
            for volume in pod.get("volumes") or []
            if "hostPath" in volume
        ]
    pod_context = pod.get("securityContext") or {}
    for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
        name = container.get("name")
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            problems.append(f"container {name} is privileged")
        added = [c for c in (context.get("capabilities") or {}).get("add") or [] if c != "NET_BIND_SERVICE"]
        if added:
            problems.append(f"container {name} adds capabilities {added}")
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        if not (non_root is True or (isinstance(user, int) and user > 0)):
            problems.append(f"container {name} may run as root")
        if not ((container.get("resources") or {}).get("limits") or {}).get("memory"):
            problems.append(f"container {name} has no memory limit")
    return problems


def _rendered_pods(release: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, name, pod spec) of every workload a Helm release renders, as Helm would install it."""
    pods = []
    for doc in render_release(release).templates:
        if doc["kind"] in POD_TEMPLATE_KINDS:
            pods.append((doc["kind"], doc["metadata"]["name"], doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "CronJob":
            pods.append(("CronJob", doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return pods


def _pod_security(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == "kubernetes:helm.sh/v3:Release":
        release = str(args.props.get("name", args.name))
        for kind, name, pod in _rendered_pods(args.props):
            allowed, _ = POD_SECURITY_EXEMPTIONS.get((release, kind, name), (frozenset(), ""))
            for problem in pod_security_problems(pod, allowed):
                report(f"release {release}: {kind} {name} {problem}")
        return
    spec = args.props.get("spec") or {}
    pod = spec.get("template", {}).get("spec") if args.resource_type != "kubernetes:core/v1:Pod" else spec
    if args.resource_type == "kubernetes:batch/v1:CronJob":
        pod = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec")
    for problem in pod_security_problems(pod or {}):
        report(f"{args.name} {problem}")


def _namespaces_have_network_policies(args: StackValidationArgs, report: Report) -> None:
    denied = {
        (resource.props.get("metadata") or {}).get("namespace")
        for resource in args.resources
        if resource.resource_type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
        and (resource.props.get("spec") or {}).get("podSelector") == {}
        and set((resource.props.get("spec") or {}).get("policyTypes") or []) == {"Ingress", "Egress"}
    }
    for resource in args.resources:
        if resource.resource_type == "kubernetes:core/v1:Namespace":
            namespace = (resource.props.get("metadata") or {}).get("name")
            if namespace not in denied:
                report(f"namespace {namespace} has no default-deny NetworkPolicy", resource.urn)


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    _resource_policy(
        "k8s-pod-security",
        "No pod shares the node's network, PID or IPC namespace, mounts a node path, runs privileged or as "
        "root, adds capabilities, or runs without a memory limit; checked on Kubernetes workloads and on what "
        "every Helm release renders (CIS EKS 4.2.x, 4.1.x limits). Named exemption: node-exporter's host "
        "access (it reports the node itself).",
        "Set runAsNonRoot, resources.limits.memory and no host access in the values; an exemption needs a "
        "name and a reason in POD_SECURITY_EXEMPTIONS.",
        [
            *WORKLOAD_TYPES,
            "kubernetes:core/v1:Pod",
            "kubernetes:batch/v1:Job",
            "kubernetes:batch/v1:CronJob",
            "kubernetes:helm.sh/v3:Release",
        ],
        _pod_security,
    ),
    _stack_policy(
        "k8s-namespaces-deny-by-default",
        "Every namespace the platform creates has a default-deny NetworkPolicy (CIS EKS 5.4.4).",
        "Create the namespace's policies with components.network_policies.apply.",
        _namespaces_have_network_policies,
    ),
    _resource_policy(
        "k8s-own-workloads-nonroot-with-limits",
        "Releases of this repository's charts run as non-root with CPU and memory limits (stricter than "
        "k8s-pod-security, which asks every pod for a memory limit).",
        "Keep runAsNonRoot in the pod and container security contexts and set resources.limits in the values.",
        ["kubernetes:helm.sh/v3:Release"],
        _our_chart_runs_nonroot_with_limits,
    ),
]

"""How Kubernetes and Prometheus read label selectors and relabel rules, for the whole-cluster
tests: small, exact re-implementations of the documented semantics."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector: nil selects nothing, {} selects everything."""
    if selector is None:
        return False
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def namespace_labels(name: str) -> dict[str, str]:
    """The label every namespace carries (since Kubernetes 1.21)."""
    return {"kubernetes.io/metadata.name": name}


def alloy_relabel(config: str, discovered: Mapping[str, str]) -> dict[str, str]:
    """Apply the `rule { ... }` blocks of an Alloy `discovery.relabel` component to discovered
    meta labels (replace action, default regex `(.*)`, default separator `;`)."""
    labels = dict(discovered)
    for block in re.findall(r"rule\s*\{(.*?)\}", config, re.S):
        sources = re.search(r"source_labels\s*=\s*\[(.*?)\]", block, re.S)
        target = re.search(r'target_label\s*=\s*"([^"]+)"', block)
        if not sources or not target:
            continue
        separator = re.search(r'separator\s*=\s*"([^"]*)"', block)
        regex = re.search(r'regex\s*=\s*"([^"]*)"', block)
        replacement = re.search(r'replacement\s*=\s*"([^"]*)"', block)
        names = re.findall(r'"([^"]+)"', sources.group(1))
        value = (separator.group(1) if separator else ";").join(labels.get(name, "") for name in names)
        match = re.fullmatch(regex.group(1) if regex else "(.*)", value)
        if match:
            result = match.expand((replacement.group(1) if replacement else "$1").replace("$", "\\"))
            if result:
                labels[target.group(1)] = result
            else:
                labels.pop(target.group(1), None)
    return {key: value for key, value in labels.items() if not key.startswith("__")}


def pod_meta_labels(namespace: str, pod_labels: Mapping[str, str]) -> dict[str, str]:
    """The `__meta_kubernetes_pod_label_*` labels Kubernetes discovery gives a pod."""
    meta = {"__meta_kubernetes_namespace": namespace}
    for key, value in pod_labels.items():
        meta["__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
    return meta

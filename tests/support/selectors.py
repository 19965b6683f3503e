"""How Kubernetes and Prometheus read label selectors and relabel rules, for the whole-cluster
tests: small, exact re-implementations of the documented semantics."""

from __future__ import annotations

import ipaddress
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


def _port_matches(rule_ports: list[dict[str, Any]] | None, port: int, port_name: str, protocol: str) -> bool:
    if not rule_ports:
        return True
    for item in rule_ports:
        if item.get("protocol", "TCP") != protocol:
            continue
        wanted = item.get("port")
        if wanted is None or wanted == port or (isinstance(wanted, str) and wanted == port_name):
            return True
        if isinstance(wanted, int) and item.get("endPort") and wanted <= port <= item["endPort"]:
            return True
    return False


def _peer_matches(peer: dict[str, Any], policy_namespace: str, other: Mapping[str, Any]) -> bool:
    """Does a NetworkPolicy peer select `other` ({"namespace", "labels"} for a pod, {"ip"} outside)?"""
    if "ipBlock" in peer:
        if "ip" not in other:
            return False  # pod IPs: implementations differ; the platform never relies on it
        block = ipaddress.ip_network(peer["ipBlock"]["cidr"])
        address = ipaddress.ip_address(other["ip"])
        excepted = any(address in ipaddress.ip_network(cidr) for cidr in peer["ipBlock"].get("except", []))
        return address in block and not excepted
    if "ip" in other:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], namespace_labels(other["namespace"])):
            return False
    elif other["namespace"] != policy_namespace:
        return False
    return selects(peer.get("podSelector", {}), other["labels"])


def allowed(
    policies: list[dict[str, Any]],
    source: Mapping[str, Any],
    destination: Mapping[str, Any],
    port: int,
    port_name: str = "",
    protocol: str = "TCP",
) -> bool:
    """Kubernetes NetworkPolicy semantics for one connection: the source's egress and the
    destination's ingress must both allow it (each is open while no policy of that type selects
    the pod). `source`/`destination` are pods ({"namespace", "labels"}) or addresses ({"ip"})."""

    def side(pod: Mapping[str, Any], direction: str, other: Mapping[str, Any]) -> bool:
        if "ip" in pod:
            return True
        selecting = [
            policy
            for policy in policies
            if policy["metadata"].get("namespace") == pod["namespace"]
            and direction in policy["spec"].get("policyTypes", ["Ingress"])
            and selects(policy["spec"].get("podSelector", {}), pod["labels"])
        ]
        if not selecting:
            return True
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for policy in selecting:
            for rule in policy["spec"].get(key) or []:
                peers = rule.get(peers_key)
                peer_ok = not peers or any(_peer_matches(peer, pod["namespace"], other) for peer in peers)
                if peer_ok and _port_matches(rule.get("ports"), port, port_name, protocol):
                    return True
        return False

    return side(source, "Egress", destination) and side(destination, "Ingress", source)

"""A stack's whole cluster, rendered offline: every Helm release the program installs, rendered
from its chart (the vendored upstream archives and this repo's chart) with the exact values the
program builds, plus every Kubernetes object the program creates directly. The result is the list
of manifests a cluster would receive, each tagged with where it came from. Releases are rendered
by the policy pack's renderer (policy/rules/rendering.py): the pack judges the same manifests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from policy.rules.rendering import render_release
from tests.support.pulumi_harness import StackRun, run_program

# The Kubernetes version Helm renders for: each stack's kubernetesVersion (Pulumi.yaml's default).
KUBERNETES_VERSION = "1.33.0"


@dataclass(frozen=True)
class Manifest:
    source: str  # release name, or "pulumi" for objects the program creates itself
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.doc["kind"]

    @property
    def name(self) -> str:
        return self.doc["metadata"]["name"]

    @property
    def namespace(self) -> str | None:
        return self.doc["metadata"].get("namespace")


@dataclass
class Cluster:
    stack: str
    run: StackRun
    manifests: list[Manifest] = field(default_factory=list)
    # Release name -> its CRDs (from the charts' crds/ folders), installed before its templates.
    crds: list[Manifest] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Manifest]:
        return [m for m in self.manifests if m.kind == kind]

    def all(self) -> list[Manifest]:
        return self.crds + self.manifests

    def custom_resource_definitions(self) -> list[Manifest]:
        """From charts' crds/ folders and from templates (karpenter-crd ships them as templates)."""
        return self.crds + self.of_kind("CustomResourceDefinition")


# How the Pulumi SDK marks a secret value in recorded inputs.
_SECRET_SIG = "4dabf18193072939515e22adb298388d"


def _unsecret(value: Any) -> Any:
    if isinstance(value, dict):
        if _SECRET_SIG in value:
            return _unsecret(value.get("value"))
        return {key: _unsecret(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unsecret(item) for item in value]
    return value


def _direct_object(type_token: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A Kubernetes object the program registers itself (kubernetes:<group>/<version>:<Kind>)."""
    _, group_version, kind = type_token.split(":")
    group, version = group_version.split("/")
    api_version = version if group == "core" else f"{group}/{version}"
    body = {key: _unsecret(value) for key, value in inputs.items() if key != "apiVersion"}
    return {"apiVersion": api_version, "kind": kind, **body}


@cache
def render_stack(
    stack: str,
    overrides: tuple[tuple[str, Any], ...] = (),
    secrets: tuple[tuple[str, str], ...] = (),
    releases: tuple[str, ...] | None = None,
) -> Cluster:
    """`releases`: render only these Helm releases (None: all) beside every direct object."""
    run = run_program(stack, overrides=dict(overrides), secrets=dict(secrets))
    cluster = Cluster(stack, run)
    for resource in run.resources:
        if resource.type == "kubernetes:helm.sh/v3:Release":
            if releases is not None and resource.inputs["name"] not in releases:
                continue
            rendered = render_release(_unsecret(resource.inputs))
            name = resource.inputs["name"]
            cluster.manifests += [Manifest(name, doc) for doc in rendered.templates]
            cluster.crds += [Manifest(name, doc) for doc in rendered.crds]
        elif resource.type.startswith("kubernetes:") and not resource.type.startswith("kubernetes:index"):
            cluster.manifests.append(Manifest("pulumi", _direct_object(resource.type, resource.inputs)))
    return cluster

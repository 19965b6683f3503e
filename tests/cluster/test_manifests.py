"""Every release of every stack renders, and every manifest is one the cluster accepts: valid for
the stack's Kubernetes version, and objects of custom kinds valid against their vendored CRDs."""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.support.cluster_render import KUBERNETES_VERSION, Cluster, Manifest


def _crd_schemas(cluster: Cluster) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the openAPIV3Schema of the served version."""
    schemas = {}
    for crd in cluster.custom_resource_definitions():
        spec = crd.doc["spec"]
        for version in spec["versions"]:
            if version.get("served"):
                schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = version["schema"][
                    "openAPIV3Schema"
                ]
    return schemas


def _structural(schema: Any) -> Any:
    """A CRD schema as JSON Schema: int-or-string fields take either, preserve-unknown stays open."""
    if isinstance(schema, dict):
        out = {k: _structural(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
        if schema.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return out
    if isinstance(schema, list):
        return [_structural(item) for item in schema]
    return schema


def test_the_stack_renders_every_release(cluster: Cluster) -> None:
    releases = {r.inputs["name"] for r in cluster.run.of_type("kubernetes:helm.sh/v3:Release")}
    assert releases == {m.source for m in cluster.manifests} - {"pulumi"}
    assert len(cluster.manifests) > 100


def test_every_manifest_is_valid_for_the_kubernetes_version(cluster: Cluster) -> None:
    schemas = _crd_schemas(cluster)
    problems = []
    for manifest in cluster.all():
        key = (manifest.doc["apiVersion"], manifest.kind)
        try:
            if key in schemas:
                jsonschema.Draft7Validator(_structural(schemas[key])).validate(manifest.doc)
            else:
                kubernetes_validate.validate(manifest.doc, KUBERNETES_VERSION, strict=True)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as error:
            problems.append(f"{manifest.source} {manifest.kind}/{manifest.name}: {str(error)[:300]}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{manifest.source} {manifest.kind}/{manifest.name}: no schema for {key}")
    assert problems == []


def test_objects_of_custom_kinds_have_their_crd(cluster: Cluster) -> None:
    schemas = _crd_schemas(cluster)
    builtin = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}
    custom = [
        m for m in cluster.manifests if m.doc["apiVersion"] not in builtin and "k8s.io" not in m.doc["apiVersion"]
    ]
    assert custom, "expected ServiceMonitors and PrometheusRules at least"
    missing = {(m.doc["apiVersion"], m.kind) for m in custom} - set(schemas)
    assert missing == set()


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_no_workload_is_without_its_namespace(cluster: Cluster, kind: str) -> None:
    namespaces = {m.name for m in cluster.of_kind("Namespace")} | {"kube-system"}
    workloads: list[Manifest] = cluster.of_kind(kind)
    assert all(m.namespace in namespaces for m in workloads), [(m.name, m.namespace) for m in workloads]

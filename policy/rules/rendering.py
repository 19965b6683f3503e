"""A Helm release rendered as Helm installs it: its templates (a `List` stands for its items, the
chart's tests left out) and its CRDs. The pack judges what releases render with it; the
whole-cluster tests render every stack with it too, so both read the same manifests."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .common import PROJECT_DIR


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads a bare `=` as the "value" tag; Kubernetes (YAML 1.2) reads a string."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def chart_path(chart: str) -> Path:
    """A release's chart as the program names it: relative to the project directory."""
    path = Path(chart)
    return path if path.is_absolute() else PROJECT_DIR / path


def objects(text: str) -> list[dict[str, Any]]:
    """The objects of a rendered file; a `List` stands for its items, as the API server reads it."""
    found = []
    for doc in yaml.load_all(text, Loader=_Loader):
        if isinstance(doc, dict) and doc.get("kind") == "List":
            found += [item for item in doc.get("items") or [] if isinstance(item, dict)]
        elif isinstance(doc, dict) and doc.get("kind"):
            found.append(doc)
    return found


@dataclass(frozen=True)
class Rendered:
    templates: list[dict[str, Any]]
    crds: list[dict[str, Any]]


# Renders already made in this process, by release (chart, name, namespace, values): a preview
# renders each release once, the test suite renders the same releases for many checks.
_RENDERS: dict[str, Rendered] = {}
_MAX_RENDERS = 64


def render_release(release: Mapping[str, Any]) -> Rendered:
    """The release's objects (each in the release's namespace unless it names one) and CRDs; a
    copy the caller may change."""
    key = json.dumps({k: release.get(k) for k in ("chart", "name", "namespace", "values")}, sort_keys=True, default=str)
    rendered = _RENDERS.get(key)
    if rendered is None:
        if len(_RENDERS) >= _MAX_RENDERS:
            _RENDERS.clear()
        rendered = _RENDERS[key] = _render(release)
    return copy.deepcopy(rendered)


def _render(release: Mapping[str, Any]) -> Rendered:
    import helm_python as helm

    namespace = release.get("namespace")
    with helm.Chart.load(str(chart_path(str(release["chart"])))) as chart:
        rendered = chart.render(
            dict(release.get("values") or {}), name=release.get("name"), namespace=namespace, is_install=True
        )
        # Only CRDs count: the load balancer controller's crds/ also carries a kustomization.yaml.
        crds = [doc for crd in chart.crds for doc in objects(crd["data"]) if doc["kind"] == "CustomResourceDefinition"]
    templates = []
    for path, text in sorted(rendered.items()):
        if path.endswith((".yaml", ".yml")) and "/tests/" not in path:
            for doc in objects(text):
                doc.setdefault("metadata", {}).setdefault("namespace", namespace)
                templates.append(doc)
    return Rendered(templates, crds)

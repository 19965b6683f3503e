"""The monitoring package as a whole: its generated copies are what it builds, and every metric
the rules and dashboards read is one the catalogue declares (or a recording rule makes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import promql_parser
import pytest

import monitoring.__main__ as build
from monitoring import names, slo
from monitoring.rules import rule_groups
from tests.support.pulumi_harness import REPO

# Series other exporters provide on every cluster (Prometheus itself, kube-state-metrics).
EXTERNAL = {"up", "kube_pod_container_status_restarts_total"}


def test_the_committed_copies_are_what_the_package_builds() -> None:
    result = subprocess.run([sys.executable, "-m", "monitoring", "--check"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_check_names_a_stale_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stale = tmp_path / "board.json"
    stale.write_text("{}")
    monkeypatch.setattr(build, "REPO", tmp_path)
    monkeypatch.setattr(build, "outputs", lambda: {stale: '{"uid": "x"}\n'})
    monkeypatch.setattr(sys, "argv", ["monitoring", "--check"])
    assert build.main() == 1
    assert stale.read_text() == "{}"


def _selectors(node: object) -> set[str]:
    """Metric names of every vector selector in a parsed PromQL expression."""
    found: set[str] = set()
    if isinstance(node, promql_parser.VectorSelector) and node.name:
        found.add(node.name)
    for attribute in ("expr", "lhs", "rhs", "vector_selector", "param"):
        child = getattr(node, attribute, None)
        if child is not None and child is not node:
            found |= _selectors(child)
    for argument in getattr(node, "args", None) or []:
        found |= _selectors(argument)
    return found


def _queried_names() -> set[str]:
    expressions = [rule["expr"] for group in rule_groups()["groups"] for rule in group["rules"]]
    for make, _ in build.BOARDS:
        for panel in make().json()["panels"]:
            for target in panel.get("targets", []):
                if panel["datasource"]["type"] == "prometheus":
                    expressions.append(
                        target["expr"]
                        .replace("$__rate_interval", "5m")
                        .replace("$namespace", ".*")
                        .replace("$job", ".*")
                        .replace("$feature", ".*")
                    )
    return set().union(*(_selectors(promql_parser.parse(expr)) for expr in expressions))


def test_every_queried_metric_is_catalogued_or_recorded() -> None:
    exported = set()
    for metric in names.ALL:
        exported.add(metric.series)
        if metric.kind == "histogram":
            exported |= {metric.bucket, metric.count, metric.sum}
    recorded = {rule["record"] for group in rule_groups()["groups"] for rule in group["rules"] if "record" in rule}
    queried = _queried_names()
    assert len(queried) > 15
    assert queried - exported - recorded - EXTERNAL == set()
    unread = (
        {metric.name for metric in names.ALL}
        - {name.removesuffix("_total") for name in queried}
        - {name.rsplit("_", 1)[0] for name in queried}
    )
    assert unread == set(), f"catalogued but read by no rule or dashboard: {unread}"


def test_the_latency_threshold_is_a_histogram_bound() -> None:
    assert slo.LATENCY_THRESHOLD_SECONDS in names.LATENCY_BUCKETS


def test_the_service_exports_exactly_the_catalogue() -> None:
    from model_service.metrics import ServiceMetrics
    from model_service.routing import ROUTES

    families = {family.name for family in ServiceMetrics(ROUTES).registry.collect()}
    # prometheus_client reports counters without `_total`.
    assert families == {metric.name for metric in names.ALL}


def test_dashboards_are_json_grafana_loads() -> None:
    for make, folder in build.BOARDS:
        board = make()
        shipped = json.loads((folder / f"{board.uid}.json").read_text())
        assert shipped["uid"] == board.uid and shipped["panels"]

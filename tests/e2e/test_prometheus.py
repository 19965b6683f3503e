"""End to end: the real model service scraped by a real Prometheus loaded with exactly the chart's
rule file. Normal traffic, then shifted traffic: the drift alert goes pending or firing for the
shifted feature only; every recording rule and every dashboard query returns data; every metric
a rule or dashboard names exists; with exemplar storage on (as the stack runs it), the latency
exemplars come back through the query API and name traces the service sampled."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import promql_parser
import pytest
import yaml
from sklearn.datasets import load_wine

from bench.otlp_receiver import OtlpReceiver
from tests.support.model_server import RunningServer, send_rows, start_server
from tests.support.prometheus import RULES, Prometheus, prometheus_scraping
from tests.support.pulumi_harness import REPO

DASHBOARDS = sorted((REPO / "charts" / "model-service" / "files" / "dashboards").glob("*.json"))
# Metrics a rule may name that come from elsewhere in the cluster, not from the service.
EXTERNAL_METRICS = {"up", "kube_pod_container_status_restarts_total"}
WINE = load_wine()
SHIFTED = "alcohol"


@pytest.fixture(scope="module")
def stack(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Prometheus]]:
    workdir = tmp_path_factory.mktemp("e2e")
    receiver = OtlpReceiver()
    service = start_server(
        workdir / "service.log",
        MODEL_DIR=str(artifact),
        MAX_ROWS_PER_REQUEST="1024",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        TRACE_SAMPLE_RATIO="0.5",
    )
    try:
        with prometheus_scraping(service, workdir) as prometheus:
            _drive_traffic(service)
            yield service, prometheus
    finally:
        service.stop()
        receiver.close()


def _drive_traffic(service: RunningServer) -> None:
    rng = np.random.default_rng(7)
    with service.client() as client:
        normal = WINE.data[rng.integers(0, len(WINE.data), 300)] * rng.normal(1.0, 0.01, (300, 13))
        ids = send_rows(client, normal)
        for feedback_id in ids[:3]:
            client.post("/feedback", json={"feedback_id": feedback_id, "labels": [0] * 50})
        client.post("/invocations", content=b"1,2", headers={"content-type": "text/csv"})  # one refusal
        time.sleep(3)
        shifted = WINE.data[rng.integers(0, len(WINE.data), 3000)] * rng.normal(1.0, 0.01, (3000, 13))
        shifted[:, list(WINE.feature_names).index(SHIFTED)] += 2 * WINE.data[:, 0].std()
        send_rows(client, shifted)


def test_drift_alert_goes_pending_or_firing_for_the_shifted_feature_only(
    stack: tuple[RunningServer, Prometheus],
) -> None:
    _, prometheus = stack

    def drift_alerts() -> list[dict[str, Any]]:
        return [a for a in prometheus.alerts() if a["labels"]["alertname"].startswith("ModelFeatureDrift")]

    prometheus.wait_for("a drift alert", lambda: [a for a in drift_alerts() if a["labels"]["feature"] == SHIFTED])
    time.sleep(3)  # a few more evaluations: any wrong alert would show up by now
    alerts = drift_alerts()
    critical = [a for a in alerts if a["labels"]["alertname"] == "ModelFeatureDriftCritical"]
    assert {a["labels"]["feature"] for a in critical} == {SHIFTED}
    assert all(a["state"] in ("pending", "firing") for a in critical)
    assert critical[0]["labels"]["severity"] == "critical"
    assert "runbook_url" in critical[0]["annotations"]
    stable = [a["labels"]["feature"] for a in alerts if a["labels"]["feature"] != SHIFTED]
    assert stable == [], f"stable features alerted: {stable}"
    psi = {r["metric"]["feature"]: float(r["value"][1]) for r in prometheus.query("job_feature:model_feature_psi:1h")}
    assert psi[SHIFTED] > 0.25 and psi["hue"] < 0.1


def recording_rules() -> list[str]:
    return [r["record"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "record" in r]


@pytest.mark.parametrize("record", recording_rules())
def test_every_recording_rule_returns_data(stack: tuple[RunningServer, Prometheus], record: str) -> None:
    _, prometheus = stack
    prometheus.wait_for(f"{record} to have data", lambda: prometheus.query(record), timeout=30)


def dashboard_queries() -> list[tuple[str, str]]:
    queries = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            if panel.get("datasource", {}).get("type") == "prometheus":
                queries += [(f"{path.stem}: {panel['title']}", t["expr"]) for t in panel["targets"]]
    return queries


def _instantiate(expr: str) -> str:
    return (
        expr.replace("$__rate_interval", "1m")
        .replace("$namespace", ".*")
        .replace("$job", ".*")
        .replace("$feature", ".*")
    )


@pytest.mark.parametrize(("panel", "expr"), dashboard_queries(), ids=[q[0] for q in dashboard_queries()])
def test_every_dashboard_query_returns_data(stack: tuple[RunningServer, Prometheus], panel: str, expr: str) -> None:
    _, prometheus = stack
    prometheus.wait_for(f"{panel} to have data", lambda: prometheus.query(_instantiate(expr)), timeout=30)


def _metric_names(node: Any, found: set[str]) -> set[str]:
    if type(node).__name__ == "VectorSelector" and node.name:
        found.add(node.name)
    for attribute in ("lhs", "rhs", "expr", "args", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        for item in child if isinstance(child, list) else [child]:
            if item is not None and type(item).__module__.startswith("promql_parser"):
                _metric_names(item, found)
    return found


def test_every_metric_a_rule_or_dashboard_names_exists(stack: tuple[RunningServer, Prometheus]) -> None:
    _, prometheus = stack
    expressions = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    expressions += [_instantiate(expr) for _, expr in dashboard_queries()]
    named: set[str] = set()
    for expr in expressions:
        _metric_names(promql_parser.parse(expr), named)
    assert "model_feature_bin_total" in named and "job_feature:model_feature_psi:1h" in named
    known = set(prometheus.client.get("/api/v1/label/__name__/values").json()["data"])
    missing = sorted(named - known - EXTERNAL_METRICS)
    assert missing == [], f"named in rules or dashboards but neither exported nor recorded: {missing}"


def test_prometheus_keeps_the_latency_exemplars_and_they_name_sampled_traces(
    stack: tuple[RunningServer, Prometheus],
) -> None:
    service, prometheus = stack
    sampled = {
        entry["trace_id"]
        for entry in (json.loads(line) for line in service.log_lines())
        if entry.get("message") == "request" and entry.get("trace_sampled")
    }
    now = time.time()
    answer = prometheus.client.get(
        "/api/v1/query_exemplars",
        params={"query": "model_service_request_duration_seconds_bucket", "start": now - 600, "end": now},
    ).json()
    assert answer["status"] == "success", answer
    exemplars = [exemplar for series in answer["data"] for exemplar in series["exemplars"]]
    assert exemplars, "Prometheus returned no exemplars"
    assert {exemplar["labels"]["trace_id"] for exemplar in exemplars} <= sampled

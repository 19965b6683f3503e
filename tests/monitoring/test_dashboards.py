"""The model service's dashboards: built by monitoring/dashboards/ and shipped by the chart; every
panel follows the conventions and every query parses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from monitoring.dashboards import CHART_DASHBOARDS

DASHBOARDS = sorted(CHART_DASHBOARDS.glob("*.json"))


def test_the_chart_ships_both_service_boards() -> None:
    assert [path.stem for path in DASHBOARDS] == ["model-quality", "model-service"]


def dashboard_queries() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            if panel.get("datasource", {}).get("type") == "tempo":
                continue  # TraceQL: test_slow_requests_start_from_exemplars_and_traces
            for target in panel.get("targets", []):
                found.append((path.stem, panel["title"], {**target, "panel": panel}))
    return found


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_conventions(path: Path) -> None:
    board = json.loads(path.read_text())
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert any(p["type"] == "logs" and "| json" in p["targets"][0]["expr"] for p in panels)
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids), "panel ids repeat"
    for panel in panels:
        assert panel["description"], panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert all(refs) and len(set(refs)) == len(refs), panel["title"]
        if panel["datasource"]["type"] == "tempo":
            assert panel["datasource"]["uid"] == "${tempo}"
            continue
        if panel["type"] != "logs":
            assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            if "rate(" in target["expr"]:
                assert "$__rate_interval" in target["expr"] or ":" in target["expr"], target["expr"]


@pytest.mark.parametrize(
    ("board", "title", "target"), dashboard_queries(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_dashboard_query_parses(board: str, title: str, target: dict[str, Any]) -> None:
    if target["panel"]["datasource"]["type"] != "prometheus":
        assert target["expr"].startswith('{app="model-service"')
        return
    expr = re.sub(r"\$__rate_interval", "5m", target["expr"])
    expr = expr.replace("$namespace", ".*").replace("$job", ".*").replace("$feature", ".*")
    promql_parser.parse(expr)


def test_slow_requests_start_from_exemplars_and_traces() -> None:
    """The latency panels show exemplars (each opens its trace); the "Slow requests" row has the
    traced requests' latencies and a table of slow server spans from Tempo."""
    board = json.loads((CHART_DASHBOARDS / "model-service.json").read_text())
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["tempo"]["query"] == "tempo"
    latency = [p for p in board["panels"] if p["title"].startswith("Latency p")]
    assert len(latency) == 3 and all(t["exemplar"] for p in latency for t in p["targets"])
    titles = [p["title"] for p in board["panels"]]
    row = titles.index("Slow requests")
    exemplars, traces = board["panels"][row + 1], board["panels"][row + 2]
    assert exemplars["targets"][0]["exemplar"] and "request_duration_seconds_bucket" in exemplars["targets"][0]["expr"]
    (query,) = traces["targets"]
    assert traces["datasource"]["type"] == "tempo" and query["queryType"] == "traceql"
    assert re.fullmatch(
        r'\{resource\.service\.name="model-service" && kind=server && duration > \d+ms\}', query["query"]
    ), query["query"]

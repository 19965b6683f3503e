"""The "Managed inference" dashboard: generated, every panel a CloudWatch query of a metric AWS
publishes (the same names the alarms use), and shipped to Grafana only on AWS stacks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.observability import AWS_DASHBOARD_FOLDER, AWS_DASHBOARDS
from model_service.drift_contract import CLOUDWATCH_METRICS, CLOUDWATCH_NAMESPACE
from monitoring.dashboards import COMPONENT_DASHBOARDS
from tests.support.pulumi_harness import run_program

(BOARD_PATH,) = AWS_DASHBOARDS
assert BOARD_PATH == COMPONENT_DASHBOARDS / "managed-inference.json"
# Metrics each namespace publishes (AWS documentation of API Gateway HTTP APIs, Lambda and
# SageMaker endpoints): a typo in a panel or an alarm cannot hide behind an empty graph.
PUBLISHED = {
    "AWS/ApiGateway": {"Count", "4xx", "5xx", "Latency", "IntegrationLatency", "DataProcessed"},
    "AWS/Lambda": {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"},
    "AWS/SageMaker": {
        "Invocations",
        "Invocation4XXErrors",
        "Invocation5XXErrors",
        "InvocationsPerInstance",
        "ModelLatency",
        "OverheadLatency",
        "ModelSetupTime",
    },
    "/aws/sagemaker/Endpoints": {"CPUUtilization", "MemoryUtilization", "DiskUtilization"},
    # The drift monitor's (drift_monitor/handler.py; tests/drift holds it to this list).
    CLOUDWATCH_NAMESPACE: set(CLOUDWATCH_METRICS),
}


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    return json.loads(BOARD_PATH.read_text())


def test_every_panel_queries_a_published_metric_through_the_cloudwatch_variable(board: dict[str, Any]) -> None:
    variables = {v["name"] for v in board["templating"]["list"]}
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len(panels) >= 9
    for panel in panels:
        assert panel["description"] and panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        assert panel["datasource"] == {"type": "cloudwatch", "uid": "${cloudwatch}"}
        for target in panel["targets"]:
            assert target["metricName"] in PUBLISHED[target["namespace"]], (panel["title"], target["metricName"])
            for (value,) in target["dimensions"].values():
                assert value == "primary" or value.lstrip("$") in variables, value
    namespaces = {t["namespace"] for p in panels for t in p["targets"]}
    assert namespaces == set(PUBLISHED)


def test_every_alarm_watches_a_published_metric() -> None:
    run = run_program("prod", overrides={"modelVersion": "v1"})
    alarms = run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms
    for alarm in alarms:
        metrics = [q["metric"] for q in alarm.inputs.get("metricQueries", []) if "metric" in q] or [alarm.inputs]
        for metric in metrics:
            assert metric["metricName"] in PUBLISHED[metric["namespace"]], alarm.name


@pytest.mark.parametrize(("stack", "shipped"), [("local", False), ("dev", True), ("prod", True)])
def test_the_dashboard_ships_to_grafana_on_aws_stacks_only(stack: str, shipped: bool) -> None:
    run = run_program(stack)
    maps = [r for r in run.of_type("kubernetes:core/v1:ConfigMap") if r.name.endswith("dashboard-managed-inference")]
    assert bool(maps) == shipped
    if shipped:
        metadata = maps[0].inputs["metadata"]
        assert metadata["labels"] == {"grafana_dashboard": "1"}
        assert metadata["annotations"] == {"grafana_folder": AWS_DASHBOARD_FOLDER}
        assert metadata["namespace"] == "monitoring"
        assert json.loads(maps[0].inputs["data"]["managed-inference.json"])["uid"] == "managed-inference"

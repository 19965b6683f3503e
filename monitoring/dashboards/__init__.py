"""The Grafana dashboards, built with Grafana's typed Foundation SDK (`layout` adds this
platform's conventions); `BOARDS` says where each one is shipped from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from monitoring.dashboards import managed_inference, quality, service
from monitoring.dashboards.layout import Board

REPO = Path(__file__).resolve().parents[2]
# The model service's boards ship with its chart; the managed-inference board with the
# Observability component, on AWS stacks.
CHART_DASHBOARDS = REPO / "charts" / "model-service" / "files" / "dashboards"
COMPONENT_DASHBOARDS = REPO / "components" / "dashboards"
BOARDS: tuple[tuple[Callable[[], Board], Path], ...] = (
    (service.board, CHART_DASHBOARDS),
    (quality.board, CHART_DASHBOARDS),
    (managed_inference.board, COMPONENT_DASHBOARDS),
)

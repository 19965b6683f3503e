"""Dashboards as typed objects (grafana-foundation-sdk), with this platform's conventions built in:
every panel has a description and a unit, every query names its datasource through a variable,
panels flow left to right in rows of 24 columns, and ids and query refIds are assigned in order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from grafana_foundation_sdk.builders import (
    barchart,
    cloudwatch,
    common,
    dashboard,
    loki,
    prometheus,
    stat,
    table,
    tempo,
    timeseries,
)
from grafana_foundation_sdk.builders import logs as logs_panel
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.cloudwatch import MetricEditorMode, MetricQueryType
from grafana_foundation_sdk.models.common import GraphTresholdsStyleMode, LogsSortOrder
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    GridPos,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
)

PROMETHEUS = DataSourceRef(type_val="prometheus", uid="${datasource}")
LOKI = DataSourceRef(type_val="loki", uid="${loki}")
CLOUDWATCH = DataSourceRef(type_val="cloudwatch", uid="${cloudwatch}")
TEMPO = DataSourceRef(type_val="tempo", uid="${tempo}")
WIDTH = 24
PANEL_HEIGHT = 8
LOGS_HEIGHT = 10

PanelKind = Literal["timeseries", "stat", "barchart"]
_PANELS: dict[str, Any] = {"timeseries": timeseries.Panel, "stat": stat.Panel, "barchart": barchart.Panel}


def datasource_variable(name: str, label: str, plugin: str) -> dashboard.DatasourceVariable:
    return (
        dashboard.DatasourceVariable(name).label(label).type(plugin).current(VariableOption(text=label, value=plugin))
    )


def prometheus_variable(name: str, label: str, query: str) -> dashboard.QueryVariable:
    """A multi-select label-values variable over Prometheus, "All" by default."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(PROMETHEUS)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .multi(True)
        .current(VariableOption(text="All", value="$__all"))
    )


def cloudwatch_dimension_variable(
    name: str, label: str, namespace: str, metric: str, dimension: str
) -> dashboard.QueryVariable:
    """One value of a CloudWatch dimension (an API id, a function, an endpoint)."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(CLOUDWATCH)
        .query(
            {
                "refId": "CloudWatchVariableQueryEditor-VariableQuery",
                "queryType": "dimensionValues",
                "region": "default",
                "namespace": namespace,
                "metricName": metric,
                "dimensionKey": dimension,
            }
        )
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(False)
        .multi(False)
    )


def cloudwatch_query(
    namespace: str, metric: str, dimensions: dict[str, str], statistic: str, label: str
) -> cloudwatch.CloudWatchMetricsQuery:
    return (
        cloudwatch.CloudWatchMetricsQuery()
        .datasource(CLOUDWATCH)
        .metric_query_type(MetricQueryType.SEARCH)
        .metric_editor_mode(MetricEditorMode.BUILDER)
        .namespace(namespace)
        .metric_name(metric)
        .dimensions({key: [value] for key, value in dimensions.items()})
        .statistic(statistic)
        .region("default")
        .match_exact(True)
        .label(label)
    )


@dataclass
class Board:
    """A dashboard being laid out; `json()` gives what Grafana's sidecar loads."""

    uid: str
    title: str
    description: str
    variables: Sequence[Any]
    tags: Sequence[str] = ("model-service", "mlops")
    _builder: dashboard.Dashboard = field(init=False)
    _panels: int = field(init=False, default=0)
    _x: int = field(init=False, default=0)
    _y: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._builder = (
            dashboard.Dashboard(self.title)
            .uid(self.uid)
            .description(self.description)
            .tags(list(self.tags))
            .timezone("utc")
            .readonly()
            .refresh("30s")
            .time("now-6h", "now")
            .version(1)
        )
        for variable in self.variables:
            self._builder.with_variable(variable)

    def _place(self, width: int, height: int) -> GridPos:
        if self._x + width > WIDTH:
            self._x, self._y = 0, self._y + height
        position = GridPos(h=height, w=width, x=self._x, y=self._y)
        self._x += width
        return position

    def _next_id(self) -> int:
        self._panels += 1
        return self._panels

    def row(self, title: str) -> None:
        self._x, self._y = 0, self._y + PANEL_HEIGHT
        self._builder.with_row(dashboard.Row(title).id(self._next_id()).grid_pos(GridPos(h=1, w=WIDTH, x=0, y=self._y)))
        self._y += 1

    def _panel(
        self,
        builder: Any,
        title: str,
        description: str,
        unit: str,
        *,
        datasource: DataSourceRef,
        queries: Sequence[Any],
        width: int,
        thresholds: Sequence[tuple[float, str]] = (),
        minimum: float | None = None,
    ) -> None:
        steps = [Threshold(value=None, color="green"), *(Threshold(value=v, color=c) for v, c in thresholds)]
        panel = (
            builder.id(self._next_id())
            .title(title)
            .description(description)
            .unit(unit)
            .datasource(datasource)
            .grid_pos(self._place(width, PANEL_HEIGHT))
            .thresholds(dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
        )
        if minimum is not None:
            panel.min(minimum)
        for index, query in enumerate(queries):
            panel.with_target(query.ref_id(chr(ord("A") + index)))
        self._builder.with_panel(panel)

    def prometheus(
        self,
        title: str,
        description: str,
        unit: str,
        targets: Sequence[tuple[str, str]],
        *,
        kind: PanelKind = "timeseries",
        width: int = 12,
        thresholds: Sequence[tuple[float, str]] = (),
        minimum: float | None = None,
        exemplars: bool = False,
    ) -> None:
        """A Prometheus panel: `targets` are (PromQL, legend) pairs; `exemplars` shows the traced
        requests behind a histogram's series as points that open their trace."""
        builder = _PANELS[kind]()
        if thresholds and kind == "timeseries":
            builder.thresholds_style(common.GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.LINE))
        queries = [
            prometheus.Dataquery().datasource(PROMETHEUS).expr(e).legend_format(legend).exemplar(exemplars)
            for e, legend in targets
        ]
        self._panel(
            builder,
            title,
            description,
            unit,
            datasource=PROMETHEUS,
            queries=queries,
            width=width,
            thresholds=thresholds,
            minimum=minimum,
        )

    def cloudwatch(
        self,
        title: str,
        description: str,
        unit: str,
        targets: Sequence[cloudwatch.CloudWatchMetricsQuery],
        *,
        width: int = 12,
    ) -> None:
        """A CloudWatch panel: `targets` come from `cloudwatch_query(...)`."""
        self._panel(
            timeseries.Panel(),
            title,
            description,
            unit,
            datasource=CLOUDWATCH,
            queries=targets,
            width=width,
            minimum=0,
        )

    def logs(self, title: str, description: str, expr: str) -> None:
        self._builder.with_panel(
            logs_panel.Panel()
            .id(self._next_id())
            .title(title)
            .description(description)
            .datasource(LOKI)
            .grid_pos(self._place(WIDTH, LOGS_HEIGHT))
            .show_time(True)
            .wrap_log_message(True)
            .sort_order(LogsSortOrder.DESCENDING)
            .with_target(loki.Dataquery().datasource(LOKI).expr(expr).ref_id("A"))
        )

    def traces(self, title: str, description: str, traceql: str, limit: int = 20) -> None:
        """A table of the traces a TraceQL query finds; each row opens its trace."""
        self._builder.with_panel(
            table.Panel()
            .id(self._next_id())
            .title(title)
            .description(description)
            .datasource(TEMPO)
            .grid_pos(self._place(WIDTH, LOGS_HEIGHT))
            .with_target(
                tempo.TempoQuery().datasource(TEMPO).query_type("traceql").query(traceql).limit(limit).ref_id("A")
            )
        )

    def json(self) -> dict[str, Any]:
        return json.loads(JSONEncoder(sort_keys=True).encode(self._builder.build()))

    def text(self) -> str:
        return json.dumps(self.json(), indent=2, sort_keys=True) + "\n"

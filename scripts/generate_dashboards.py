"""Generate the model-service Grafana dashboards into charts/model-service/files/dashboards/.

Dashboards are code: edit the panels here and run `python scripts/generate_dashboards.py`; a test
fails when the committed JSON differs from what this produces. Every panel has a description and
a unit; every query uses the `datasource` variable and `$__rate_interval` where it takes a rate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "charts" / "model-service" / "files" / "dashboards"
PROM = {"type": "prometheus", "uid": "${datasource}"}
LOKI = {"type": "loki", "uid": "${loki}"}
SEL = 'namespace=~"$namespace", job=~"$job"'
SERVE = 'route=~"/v2/models/.name./infer|/invocations"'


def _templating() -> dict[str, Any]:
    def query_var(name: str, label: str, query: str) -> dict[str, Any]:
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": PROM,
            "query": query,
            "refresh": 2,
            "includeAll": True,
            "multi": True,
            "current": {"text": "All", "value": "$__all"},
        }

    return {
        "list": [
            {
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus",
                "current": {"text": "Prometheus", "value": "prometheus"},
            },
            {
                "name": "loki",
                "label": "Loki",
                "type": "datasource",
                "query": "loki",
                "current": {"text": "Loki", "value": "loki"},
            },
            query_var("namespace", "Namespace", "label_values(model_service_model_ready, namespace)"),
            query_var("job", "Job", 'label_values(model_service_model_ready{namespace=~"$namespace"}, job)'),
            query_var(
                "feature", "Feature", 'label_values(model_feature_reference_share{namespace=~"$namespace"}, feature)'
            ),
        ]
    }


class Board:
    def __init__(self, uid: str, title: str, description: str) -> None:
        self.uid, self.title, self.description = uid, title, description
        self.panels: list[dict[str, Any]] = []
        self._x = self._y = 0

    def _place(self, width: int, height: int) -> dict[str, int]:
        if self._x + width > 24:
            self._x, self._y = 0, self._y + height
        position = {"x": self._x, "y": self._y, "w": width, "h": height}
        self._x += width
        return position

    def row(self, title: str) -> None:
        self._x, self._y = 0, self._y + 8
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "id": len(self.panels) + 1,
                "collapsed": False,
                "gridPos": {"x": 0, "y": self._y, "w": 24, "h": 1},
            }
        )
        self._y += 1

    def panel(
        self,
        title: str,
        description: str,
        unit: str,
        targets: list[tuple[str, str]],
        *,
        kind: str = "timeseries",
        width: int = 12,
        thresholds: list[tuple[float, str]] | None = None,
        minimum: float | None = None,
    ) -> None:
        steps = [{"color": "green", "value": None}] + [{"color": c, "value": v} for v, c in thresholds or []]
        defaults: dict[str, Any] = {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}}
        if minimum is not None:
            defaults["min"] = minimum
        if thresholds and kind == "timeseries":
            defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
        self.panels.append(
            {
                "type": kind,
                "title": title,
                "description": description,
                "id": len(self.panels) + 1,
                "datasource": PROM,
                "gridPos": self._place(width, 8),
                "fieldConfig": {"defaults": defaults, "overrides": []},
                "targets": [
                    {"refId": chr(65 + i), "datasource": PROM, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)
                ],
            }
        )

    def logs(self, title: str, description: str, expr: str) -> None:
        self.panels.append(
            {
                "type": "logs",
                "title": title,
                "description": description,
                "id": len(self.panels) + 1,
                "datasource": LOKI,
                "gridPos": self._place(24, 10),
                "options": {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending"},
                "targets": [{"refId": "A", "datasource": LOKI, "expr": expr}],
            }
        )

    def json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["model-service", "mlops"],
            "timezone": "utc",
            "schemaVersion": 39,
            "version": 1,
            "editable": False,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "templating": _templating(),
            "panels": self.panels,
            "annotations": {"list": []},
            "links": [],
        }


def service_board() -> Board:
    b = Board(
        "model-service", "Model service", "Traffic, errors, latency, SLO budget and saturation of the model service."
    )
    b.row("Traffic and errors")
    b.panel(
        "Requests per second by route",
        "Requests per second by route template and status class.",
        "reqps",
        [
            (
                f"sum by (route, status_class) (rate(model_service_requests_total{{{SEL}}}[$__rate_interval]))",
                "{{route}} {{status_class}}",
            )
        ],
    )
    b.panel(
        "Error ratio (5xx)",
        "Share of requests answered with a 5xx; the availability SLO allows 0.1%.",
        "percentunit",
        [
            (
                f'sum(rate(model_service_requests_total{{{SEL}, status_class="5xx"}}[$__rate_interval])) '
                f"/ sum(rate(model_service_requests_total{{{SEL}}}[$__rate_interval]))",
                "5xx ratio",
            )
        ],
        thresholds=[(0.001, "red")],
        minimum=0,
    )
    b.panel(
        "Refused requests by reason",
        "Bad input refused with a 4xx, by reason.",
        "reqps",
        [(f"sum by (reason) (rate(model_service_validation_failures_total{{{SEL}}}[$__rate_interval]))", "{{reason}}")],
    )
    b.panel(
        "Availability SLO budget burn (1h)",
        "5xx ratio over 1h divided by the 0.1% budget: 1 spends the budget in exactly 30 days; 14.4 pages.",
        "none",
        [(f"sum(job:model_service_request_errors:ratio_rate1h{{{SEL}}}) / 0.001", "burn rate")],
        kind="stat",
        width=6,
        thresholds=[(1, "orange"), (14.4, "red")],
    )
    b.panel(
        "Latency SLO budget burn (1h)",
        "Share of inference requests over 100 ms in the last hour divided by the 1% budget.",
        "none",
        [(f"sum(job:model_service_request_slow:ratio_rate1h{{{SEL}}}) / 0.01", "burn rate")],
        kind="stat",
        width=6,
        thresholds=[(1, "orange"), (14.4, "red")],
    )
    b.row("Latency")
    for quantile, label in (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99")):
        b.panel(
            f"Latency {label} by route",
            f"The {label} of request duration by route (server side).",
            "s",
            [
                (
                    f"histogram_quantile({quantile}, sum by (route, le) (rate(model_service_request_duration_seconds_bucket"
                    f"{{{SEL}}}[$__rate_interval])))",
                    "{{route}}",
                )
            ],
            width=8,
        )
    b.panel(
        "Model call duration p99",
        "The p99 of one model call (one batch).",
        "s",
        [
            (
                f"histogram_quantile(0.99, sum by (le) (rate(model_service_model_call_duration_seconds_bucket{{{SEL}}}"
                "[$__rate_interval])))",
                "p99",
            )
        ],
    )
    b.panel(
        "Mean batch size",
        "Rows per model call: concurrent requests batched together.",
        "none",
        [
            (
                f"sum(rate(model_service_batch_size_sum{{{SEL}}}[$__rate_interval])) / "
                f"sum(rate(model_service_batch_size_count{{{SEL}}}[$__rate_interval]))",
                "rows per call",
            )
        ],
    )
    b.row("Saturation and pods")
    b.panel(
        "In-flight requests",
        "Requests being served right now, per pod.",
        "none",
        [(f"sum by (instance) (model_service_requests_in_flight{{{SEL}}})", "{{instance}}")],
    )
    b.panel(
        "Pods ready",
        "Pods whose model is loaded and validated.",
        "none",
        [(f"sum(model_service_model_ready{{{SEL}}})", "ready"), (f"count(up{{{SEL}}} == 1)", "scraped")],
        kind="stat",
        width=6,
    )
    b.panel(
        "Pods serving by version",
        "Pods by served model version.",
        "none",
        [(f"sum by (model_version) (model_info{{{SEL}}})", "{{model_version}}")],
        kind="stat",
        width=6,
    )
    b.logs(
        "Errors in the logs",
        "Access log lines with a 5xx status, newest first.",
        '{app="model-service", namespace=~"$namespace"} | json | status >= 500',
    )
    return b


def quality_board() -> Board:
    b = Board(
        "model-quality",
        "Model quality",
        "Drift of inputs and predictions against the training data, confidence and accuracy from feedback.",
    )
    b.row("Input drift")
    b.panel(
        "PSI by feature (1h)",
        "Population stability index of each feature over the last hour against the "
        "training data. Above 0.1: drifting (warning); above 0.25: shifted (critical).",
        "none",
        [(f"max by (feature) (job_feature:model_feature_psi:1h{{{SEL}}})", "{{feature}}")],
        width=24,
        thresholds=[(0.1, "orange"), (0.25, "red")],
        minimum=0,
    )
    b.panel(
        "KS distance by feature (1h)",
        "Binned Kolmogorov-Smirnov distance: the largest gap between the live "
        "and the training cumulative distribution.",
        "percentunit",
        [(f"max by (feature) (job_feature:model_feature_ks:1h{{{SEL}}})", "{{feature}}")],
        minimum=0,
    )
    b.panel(
        "Live vs reference share per bin",
        "Share of rows per drift bin over the last hour (live) and on the "
        "training data (reference), for the features chosen in the Feature variable.",
        "percentunit",
        [
            (
                f'sum by (feature, bin) (job_feature_bin:model_feature_live_share:ratio_1h{{{SEL}, feature=~"$feature"}})',
                "live {{feature}} bin {{bin}}",
            ),
            (
                f'max by (feature, bin) (model_feature_reference_share{{{SEL}, feature=~"$feature"}})',
                "reference {{feature}} bin {{bin}}",
            ),
        ],
        kind="barchart",
    )
    b.row("Predictions")
    b.panel(
        "Predicted class shares (1h)",
        "Share of each predicted class over the last hour; the dashed lines are the shares on the training data.",
        "percentunit",
        [
            (f"sum by (predicted_class) (job_class:model_prediction_share:ratio_1h{{{SEL}}})", "{{predicted_class}}"),
            (f"max by (predicted_class) (model_prediction_reference_share{{{SEL}}})", "training {{predicted_class}}"),
        ],
    )
    b.panel(
        "Prediction PSI (1h)",
        "PSI of the predicted class distribution against training.",
        "none",
        [(f"max(job:model_prediction_psi:1h{{{SEL}}})", "PSI")],
        kind="stat",
        width=6,
        thresholds=[(0.1, "orange"), (0.25, "red")],
    )
    b.panel(
        "Predictions per second by class",
        "Prediction rate by class.",
        "reqps",
        [
            (
                f"sum by (predicted_class) (rate(model_predictions_total{{{SEL}}}[$__rate_interval]))",
                "{{predicted_class}}",
            )
        ],
        width=6,
    )
    b.panel(
        "Confidence p50 / p10",
        "Probability of the predicted class: median and 10th percentile.",
        "percentunit",
        [
            (
                f"histogram_quantile(0.5, sum by (le) (rate(model_prediction_confidence_bucket{{{SEL}}}[$__rate_interval])))",
                "p50",
            ),
            (
                f"histogram_quantile(0.1, sum by (le) (rate(model_prediction_confidence_bucket{{{SEL}}}[$__rate_interval])))",
                "p10",
            ),
        ],
        minimum=0,
    )
    b.row("Accuracy from feedback")
    b.panel(
        "Accuracy (1h)",
        "Share of labelled predictions that were right, from /feedback, over the last hour.",
        "percentunit",
        [(f"max(job:model_accuracy:ratio_1h{{{SEL}}})", "accuracy")],
        kind="stat",
        width=6,
        thresholds=[(0.0, "red"), (0.85, "green")],
    )
    b.panel(
        "Feedback volume",
        "Labelled predictions per second, by outcome.",
        "reqps",
        [(f"sum by (outcome) (rate(model_feedback_total{{{SEL}}}[$__rate_interval]))", "{{outcome}}")],
        width=18,
    )
    b.logs(
        "Model service logs",
        "Recent log lines of the model service.",
        '{app="model-service", namespace=~"$namespace"} | json',
    )
    return b


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for board in (service_board(), quality_board()):
        (OUT / f"{board.uid}.json").write_text(json.dumps(board.json(), indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Generate the Grafana dashboards: the model service's (Prometheus) into
charts/model-service/files/dashboards/, the managed inference one (CloudWatch) into
components/dashboards/, which the Observability component ships on AWS stacks.

Dashboards are code: edit the panels here and run `python scripts/generate_dashboards.py`; a test
fails when the committed JSON differs from what this produces. Every panel has a description and
a unit; every query uses the `datasource` variable and `$__rate_interval` where it takes a rate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "charts" / "model-service" / "files" / "dashboards"
MANAGED_OUT = REPO / "components" / "dashboards"
PROM = {"type": "prometheus", "uid": "${datasource}"}
CLOUDWATCH = {"type": "cloudwatch", "uid": "${cloudwatch}"}
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


def _cloudwatch_templating() -> dict[str, Any]:
    def dimension_var(name: str, label: str, namespace: str, metric: str, dimension: str) -> dict[str, Any]:
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": CLOUDWATCH,
            "query": {
                "refId": "CloudWatchVariableQueryEditor-VariableQuery",
                "queryType": "dimensionValues",
                "region": "default",
                "namespace": namespace,
                "metricName": metric,
                "dimensionKey": dimension,
            },
            "refresh": 2,
            "includeAll": False,
            "multi": False,
        }

    return {
        "list": [
            {
                "name": "cloudwatch",
                "label": "CloudWatch",
                "type": "datasource",
                "query": "cloudwatch",
                "current": {"text": "CloudWatch", "value": "cloudwatch"},
            },
            dimension_var("api", "API id", "AWS/ApiGateway", "Count", "ApiId"),
            dimension_var("function", "Lambda", "AWS/Lambda", "Invocations", "FunctionName"),
            dimension_var("endpoint", "Endpoint", "AWS/SageMaker", "Invocations", "EndpointName"),
        ]
    }


def cloudwatch(namespace: str, metric: str, dimensions: dict[str, str], statistic: str, label: str) -> dict[str, Any]:
    """One CloudWatch metric query in the shape Grafana's CloudWatch datasource stores."""
    return {
        "datasource": CLOUDWATCH,
        "queryMode": "Metrics",
        "metricQueryType": 0,
        "metricEditorMode": 0,
        "region": "default",
        "namespace": namespace,
        "metricName": metric,
        "dimensions": {key: [value] for key, value in dimensions.items()},
        "statistic": statistic,
        "matchExact": True,
        "period": "",
        "id": "",
        "expression": "",
        "label": label,
    }


class Board:
    def __init__(
        self,
        uid: str,
        title: str,
        description: str,
        templating: dict[str, Any] | None = None,
        tags: tuple[str, ...] = ("model-service", "mlops"),
    ) -> None:
        self.uid, self.title, self.description = uid, title, description
        self.templating = templating or _templating()
        self.tags = list(tags)
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
        """A Prometheus panel: `targets` are (PromQL, legend) pairs."""
        queries = [{"datasource": PROM, "expr": expr, "legendFormat": legend} for expr, legend in targets]
        self._add(
            title,
            description,
            unit,
            datasource=PROM,
            queries=queries,
            kind=kind,
            width=width,
            thresholds=thresholds,
            minimum=minimum,
        )

    def cloudwatch_panel(
        self, title: str, description: str, unit: str, targets: list[dict[str, Any]], *, width: int = 12
    ) -> None:
        """A CloudWatch panel: `targets` come from `cloudwatch(...)`."""
        self._add(
            title,
            description,
            unit,
            datasource=CLOUDWATCH,
            queries=targets,
            kind="timeseries",
            width=width,
            thresholds=None,
            minimum=0,
        )

    def _add(
        self,
        title: str,
        description: str,
        unit: str,
        *,
        datasource: dict[str, str],
        queries: list[dict[str, Any]],
        kind: str,
        width: int,
        thresholds: list[tuple[float, str]] | None,
        minimum: float | None,
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
                "datasource": datasource,
                "gridPos": self._place(width, 8),
                "fieldConfig": {"defaults": defaults, "overrides": []},
                "targets": [{"refId": chr(65 + i), **query} for i, query in enumerate(queries)],
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
            "tags": self.tags,
            "timezone": "utc",
            "schemaVersion": 39,
            "version": 1,
            "editable": False,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "templating": self.templating,
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


def managed_inference_board() -> Board:
    b = Board(
        "managed-inference",
        "Managed inference",
        "The managed path: API Gateway -> Lambda proxy -> SageMaker endpoint, from CloudWatch.",
        _cloudwatch_templating(),
        ("sagemaker", "mlops"),
    )
    api = {"ApiId": "$api"}
    function = {"FunctionName": "$function"}
    endpoint = {"EndpointName": "$endpoint", "VariantName": "primary"}
    b.row("API Gateway")
    b.cloudwatch_panel(
        "API requests and errors",
        "Requests to the inference API and the 4xx / 5xx answers among them, per period.",
        "short",
        [
            cloudwatch("AWS/ApiGateway", "Count", api, "Sum", "requests"),
            cloudwatch("AWS/ApiGateway", "4xx", api, "Sum", "4xx"),
            cloudwatch("AWS/ApiGateway", "5xx", api, "Sum", "5xx"),
        ],
    )
    b.cloudwatch_panel(
        "API latency",
        "Time from request to response at API Gateway (p50, p99) and the integration's share (p99).",
        "ms",
        [
            cloudwatch("AWS/ApiGateway", "Latency", api, "p50", "p50"),
            cloudwatch("AWS/ApiGateway", "Latency", api, "p99", "p99"),
            cloudwatch("AWS/ApiGateway", "IntegrationLatency", api, "p99", "integration p99"),
        ],
    )
    b.row("Lambda proxy")
    b.cloudwatch_panel(
        "Proxy invocations, errors, throttles",
        "Lambda invocations per period; errors are crashes of the proxy, throttles are concurrency limits.",
        "short",
        [
            cloudwatch("AWS/Lambda", "Invocations", function, "Sum", "invocations"),
            cloudwatch("AWS/Lambda", "Errors", function, "Sum", "errors"),
            cloudwatch("AWS/Lambda", "Throttles", function, "Sum", "throttles"),
        ],
        width=8,
    )
    b.cloudwatch_panel(
        "Proxy duration",
        "Lambda run time per invocation (p50, p99), the endpoint call included.",
        "ms",
        [
            cloudwatch("AWS/Lambda", "Duration", function, "p50", "p50"),
            cloudwatch("AWS/Lambda", "Duration", function, "p99", "p99"),
        ],
        width=8,
    )
    b.cloudwatch_panel(
        "Proxy concurrency",
        "Most Lambda instances running at once in each period.",
        "short",
        [cloudwatch("AWS/Lambda", "ConcurrentExecutions", function, "Maximum", "concurrent")],
        width=8,
    )
    b.row("SageMaker endpoint")
    b.cloudwatch_panel(
        "Endpoint invocations and errors",
        "Invocations of the endpoint per period, and the 4xx / 5xx answers of the model container.",
        "short",
        [
            cloudwatch("AWS/SageMaker", "Invocations", endpoint, "Sum", "invocations"),
            cloudwatch("AWS/SageMaker", "Invocation4XXErrors", endpoint, "Sum", "4xx"),
            cloudwatch("AWS/SageMaker", "Invocation5XXErrors", endpoint, "Sum", "5xx"),
        ],
    )
    b.cloudwatch_panel(
        "Model and overhead latency",
        "ModelLatency is the container's time (p50, p99); OverheadLatency is SageMaker's own (p99).",
        "µs",
        [
            cloudwatch("AWS/SageMaker", "ModelLatency", endpoint, "p50", "model p50"),
            cloudwatch("AWS/SageMaker", "ModelLatency", endpoint, "p99", "model p99"),
            cloudwatch("AWS/SageMaker", "OverheadLatency", endpoint, "p99", "overhead p99"),
        ],
    )
    b.cloudwatch_panel(
        "Invocations per instance",
        "What the provisioned endpoint's autoscaling tracks: invocations per instance per minute.",
        "short",
        [cloudwatch("AWS/SageMaker", "InvocationsPerInstance", endpoint, "Sum", "per instance")],
        width=8,
    )
    b.cloudwatch_panel(
        "Instance CPU and memory",
        "Utilisation of the provisioned endpoint's instances (CPU is per core: 200% on two cores).",
        "percent",
        [
            cloudwatch("/aws/sagemaker/Endpoints", "CPUUtilization", endpoint, "Average", "CPU"),
            cloudwatch("/aws/sagemaker/Endpoints", "MemoryUtilization", endpoint, "Average", "memory"),
        ],
        width=8,
    )
    b.cloudwatch_panel(
        "Serverless cold starts",
        "ModelSetupTime of a serverless endpoint: how long a cold start took to bring a container up.",
        "µs",
        [cloudwatch("AWS/SageMaker", "ModelSetupTime", endpoint, "Maximum", "setup")],
        width=8,
    )
    return b


def main() -> None:
    for out, boards in ((OUT, (service_board(), quality_board())), (MANAGED_OUT, (managed_inference_board(),))):
        out.mkdir(parents=True, exist_ok=True)
        for board in boards:
            (out / f"{board.uid}.json").write_text(json.dumps(board.json(), indent=2) + "\n")


if __name__ == "__main__":
    main()

"""The "Model service" board: traffic, errors, latency, SLO budget and saturation."""

from __future__ import annotations

from monitoring import names, rules, slo
from monitoring.dashboards.common import SELECTOR, SERVICE_LOGS, rate, service_variables
from monitoring.dashboards.layout import Board

PAGE_BURN = slo.PAGE[0].factor
SERVER_ERRORS = 'status_class="5xx"'


# What "slow" means for the slow-traces table: a tenth of the latency objective's threshold, well
# above a typical request and early enough to see a slowdown coming.
SLOW_REQUEST = f"{slo.LATENCY_THRESHOLD_SECONDS * 100:g}ms"


def board() -> Board:
    b = Board(
        "model-service",
        "Model service",
        "Traffic, errors, latency, SLO budget and saturation of the model service.",
        service_variables(),
    )
    requests = names.REQUESTS.series
    b.row("Traffic and errors")
    b.prometheus(
        "Requests per second by route",
        "Requests per second by route template and status class.",
        "reqps",
        [(f"sum by (route, status_class) ({rate(requests)})", "{{route}} {{status_class}}")],
    )
    b.prometheus(
        "Error ratio (5xx)",
        "Share of requests answered with a 5xx; the availability SLO allows 0.1%.",
        "percentunit",
        [(f"sum({rate(requests, SERVER_ERRORS)}) / sum({rate(requests)})", "5xx ratio")],
        thresholds=[(slo.AVAILABILITY.budget, "red")],
        minimum=0,
    )
    b.prometheus(
        "Refused requests by reason",
        "Bad input refused with a 4xx, by reason.",
        "reqps",
        [(f"sum by (reason) ({rate(names.VALIDATION_FAILURES.series)})", "{{reason}}")],
    )
    for objective, title, description in (
        (
            slo.AVAILABILITY,
            "Availability SLO budget burn (1h)",
            "5xx ratio over 1h divided by the 0.1% budget: 1 spends the budget in exactly 30 days; 14.4 pages.",
        ),
        (
            slo.LATENCY,
            "Latency SLO budget burn (1h)",
            "Share of inference requests over 100 ms in the last hour divided by the 1% budget.",
        ),
    ):
        b.prometheus(
            title,
            description,
            "none",
            [(f"sum({rules.slo_ratio(objective, '1h')}{{{SELECTOR}}}) / {objective.budget:g}", "burn rate")],
            kind="stat",
            width=6,
            thresholds=[(1, "orange"), (PAGE_BURN, "red")],
        )
    b.row("Latency")
    for quantile, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        b.prometheus(
            f"Latency {label} by route",
            f"The {label} of request duration by route (server side).",
            "s",
            [
                (
                    f"histogram_quantile({quantile:g}, sum by (route, le) ({rate(names.REQUEST_DURATION.bucket)}))",
                    "{{route}}",
                )
            ],
            width=8,
            exemplars=True,
        )
    b.prometheus(
        "Model call duration p99",
        "The p99 of one model call (one batch).",
        "s",
        [(f"histogram_quantile(0.99, sum by (le) ({rate(names.MODEL_CALL_DURATION.bucket)}))", "p99")],
    )
    b.prometheus(
        "Mean batch size",
        "Rows per model call: concurrent requests batched together.",
        "none",
        [(f"sum({rate(names.BATCH_SIZE.sum)}) / sum({rate(names.BATCH_SIZE.count)})", "rows per call")],
    )
    b.row("Slow requests")
    b.prometheus(
        "Slowest traced requests",
        "Each point is one traced request (an exemplar) at its latency: click it to open the trace, and "
        "from the trace its log lines. The line is the p99 of the same routes.",
        "s",
        [
            (
                f"histogram_quantile(0.99, sum by (route, le) ({rate(names.REQUEST_DURATION.bucket)}))",
                "p99 {{route}}",
            )
        ],
        width=24,
        exemplars=True,
    )
    b.traces(
        "Slow traces",
        f"Traced model-service requests slower than {SLOW_REQUEST}, newest first (Tempo; a tenth of a "
        "percent to a percent of requests are traced, TRACE_SAMPLE_RATIO).",
        f'{{resource.service.name="model-service" && kind=server && duration > {SLOW_REQUEST}}}',
    )
    b.row("Saturation and pods")
    b.prometheus(
        "In-flight requests",
        "Requests being served right now, per pod.",
        "none",
        [(f"sum by (instance) ({names.IN_FLIGHT.series}{{{SELECTOR}}})", "{{instance}}")],
    )
    b.prometheus(
        "Pods ready",
        "Pods whose model is loaded and validated.",
        "none",
        [(f"sum({names.MODEL_READY.series}{{{SELECTOR}}})", "ready"), (f"count(up{{{SELECTOR}}} == 1)", "scraped")],
        kind="stat",
        width=6,
    )
    b.prometheus(
        "Pods serving by version",
        "Pods by served model version.",
        "none",
        [(f"sum by (model_version) ({names.MODEL_INFO.series}{{{SELECTOR}}})", "{{model_version}}")],
        kind="stat",
        width=6,
    )
    b.logs(
        "Errors in the logs",
        "Access log lines with a 5xx status, newest first.",
        f"{SERVICE_LOGS} | json | status >= 500",
    )
    return b

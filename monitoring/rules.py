"""The model service's recording and alerting rules, built from the metric catalogue and the SLOs.

`rule_groups()` is a plain Prometheus rule file as data: `python -m monitoring` writes it into the
chart (which templates it into a PrometheusRule), promtool tests it as it is (tests/monitoring/),
and every alert links a section of docs/runbooks.md.
"""

from __future__ import annotations

from typing import Any

from monitoring import names, slo
from monitoring.slo import INFERENCE_ROUTES, BurnWindow, Slo

RUNBOOK_URL = "https://github.com/mlops-platform/mlops-platform/blob/main/docs/runbooks.md"
BY_JOB = "namespace, job"
# Drift and accuracy alerts judge a short window against the reference, so that a change is not
# diluted by an hour of older rows, and wait for enough evidence in it (bench/drift_alerts.py
# measures the delays and the quiet of a stationary stream with promtool; tests/monitoring runs it).
ALERT_WINDOW = "10m"
MIN_ROWS_FOR_DRIFT = 1000
MIN_LABELS_FOR_ACCURACY = 100
# PSI over ALERT_WINDOW: above WARNING the distribution drifts, above CRITICAL it has shifted. A
# stationary 10 minutes of 3000 rows stays below 0.11 on every feature (sampling noise and a
# reference of 133 training rows); half a window shifted by one standard deviation exceeds 0.22.
PSI_WARNING = 0.2
PSI_CRITICAL = 0.5
# The predicted classes move far less than the inputs (the model weighs thirteen features): one
# feature shifted by one standard deviation moves the 10-minute class PSI by at most 0.004, by two
# up to 0.07 (proline), while a stationary stream stays below 0.004. Hence a small threshold.
PREDICTION_PSI_WARNING = 0.02
# Released models reach 90% or more; below this the model is failing in production.
ACCURACY_FLOOR = 0.85
# Empty bins would make PSI infinite: shares are floored at this.
SHARE_FLOOR = "0.0001"

Rule = dict[str, Any]

# Alertmanager templates the annotations use.
JOB = "{{ $labels.job }}"
VALUE_PERCENT = "{{ $value | humanizePercentage }}"
PSI_VALUE = '{{ $value | printf "%.2f" }}'

# Recording rules that alerts and dashboards read.
FEATURE_ROWS = "job_feature:model_feature_rows:increase1h"
FEATURE_LIVE_SHARE = "job_feature_bin:model_feature_live_share:ratio_1h"
FEATURE_PSI = "job_feature:model_feature_psi:1h"
FEATURE_KS = "job_feature:model_feature_ks:1h"
PREDICTIONS_1H = "job:model_predictions:increase1h"
PREDICTION_SHARE = "job_class:model_prediction_share:ratio_1h"
PREDICTION_PSI = "job:model_prediction_psi:1h"
FEEDBACK_1H = "job:model_feedback:increase1h"
ACCURACY = "job:model_accuracy:ratio_1h"
# Labelled rows per predicted row over the last hour (labels come late: a trend, not a rate).
LABEL_COVERAGE = "job:model_label_coverage:ratio_1h"
# The same over ALERT_WINDOW: what the alerts read.
FEATURE_ROWS_SHORT = "job_feature:model_feature_rows:increase10m"
FEATURE_LIVE_SHARE_SHORT = "job_feature_bin:model_feature_live_share:ratio_10m"
FEATURE_PSI_SHORT = "job_feature:model_feature_psi:10m"
PREDICTIONS_SHORT = "job:model_predictions:increase10m"
PREDICTION_SHARE_SHORT = "job_class:model_prediction_share:ratio_10m"
PREDICTION_PSI_SHORT = "job:model_prediction_psi:10m"
FEEDBACK_SHORT = "job:model_feedback:increase10m"
ACCURACY_SHORT = "job:model_accuracy:ratio_10m"


def slo_ratio(objective: Slo, window: str) -> str:
    """The recorded share of bad requests for `objective` over `window`."""
    return f"job:{objective.name}:ratio_rate{window}"


def _error_ratio(window: str) -> str:
    requests = names.REQUESTS.series
    return (
        f'sum by ({BY_JOB}) (rate({requests}{{status_class="5xx"}}[{window}]))\n'
        "/\n"
        f"sum by ({BY_JOB}) (rate({requests}[{window}]))"
    )


def _slow_ratio(window: str) -> str:
    latency = names.REQUEST_DURATION
    threshold = f"{slo.LATENCY_THRESHOLD_SECONDS:g}"
    return (
        "1 - (\n"
        f'  sum by ({BY_JOB}) (rate({latency.bucket}{{{INFERENCE_ROUTES}, le="{threshold}"}}[{window}]))\n'
        "  /\n"
        f"  sum by ({BY_JOB}) (rate({latency.count}{{{INFERENCE_ROUTES}}}[{window}]))\n"
        ")"
    )


def _psi(share: str, reference: str, keys: str, join: str) -> str:
    """Population stability index: sum over bins of (live - reference) * ln(live / reference)."""
    live = f"clamp_min({share}, {SHARE_FLOOR})"
    expected = f"clamp_min(max by ({join}) ({reference}), {SHARE_FLOOR})"
    return (
        f"sum by ({keys}) (\n"
        "  (\n"
        f"    {live}\n"
        f"    - on ({join})\n"
        f"    {expected}\n"
        "  )\n"
        "  *\n"
        "  ln(\n"
        f"    {live}\n"
        f"    / on ({join})\n"
        f"    {expected}\n"
        "  )\n"
        ")"
    )


def recording_rules() -> list[Rule]:
    rules: list[Rule] = []
    for objective, expr in ((slo.AVAILABILITY, _error_ratio), (slo.LATENCY, _slow_ratio)):
        rules += [{"record": slo_ratio(objective, window), "expr": expr(window)} for window in slo.WINDOWS]
    rules.append(
        {
            "record": "job:model_service_requests:rate5m",
            "expr": f"sum by ({BY_JOB}) (rate({names.REQUESTS.series}[5m]))",
        }
    )
    for quantile in (0.5, 0.95, 0.99):
        rules.append(
            {
                "record": f"job_route:{names.REQUEST_DURATION.name}:p{round(quantile * 100)}_5m",
                "expr": f"histogram_quantile({quantile:g}, sum by ({BY_JOB}, route, le) "
                f"(rate({names.REQUEST_DURATION.bucket}[5m])))",
            }
        )
    rules += _quality_rules(
        "1h",
        FEATURE_ROWS,
        FEATURE_LIVE_SHARE,
        FEATURE_PSI,
        PREDICTIONS_1H,
        PREDICTION_SHARE,
        PREDICTION_PSI,
        FEEDBACK_1H,
        ACCURACY,
    )
    rules.append(_ks_rule())
    rules.append({"record": LABEL_COVERAGE, "expr": f"{FEEDBACK_1H}\n/\n{PREDICTIONS_1H}"})
    rules += _quality_rules(
        ALERT_WINDOW,
        FEATURE_ROWS_SHORT,
        FEATURE_LIVE_SHARE_SHORT,
        FEATURE_PSI_SHORT,
        PREDICTIONS_SHORT,
        PREDICTION_SHARE_SHORT,
        PREDICTION_PSI_SHORT,
        FEEDBACK_SHORT,
        ACCURACY_SHORT,
    )
    return rules


def _quality_rules(window: str, *records: str) -> list[Rule]:
    """Feature PSI, prediction PSI and accuracy over `window`, recorded under `records` (rows, live
    share, PSI; predictions, prediction share, prediction PSI; labels, accuracy)."""
    rows, share, psi, predictions_total, prediction_share, prediction_psi, labels, accuracy = records
    feature_keys = f"{BY_JOB}, feature"
    bins = names.FEATURE_BIN.series
    predictions = names.PREDICTIONS.series
    class_keys = f"{BY_JOB}, predicted_class"
    feedback = names.FEEDBACK.series
    return [
        {"record": rows, "expr": f"sum by ({feature_keys}) (increase({bins}[{window}]))"},
        {
            "record": share,
            "expr": f"sum by ({feature_keys}, bin) (increase({bins}[{window}]))\n/ ignoring (bin) group_left\n{rows}",
        },
        {
            "record": psi,
            "expr": _psi(share, names.FEATURE_REFERENCE_SHARE.series, feature_keys, f"{feature_keys}, bin"),
        },
        {"record": predictions_total, "expr": f"sum by ({BY_JOB}) (increase({predictions}[{window}]))"},
        {
            "record": prediction_share,
            "expr": f"sum by ({class_keys}) (increase({predictions}[{window}]))\n"
            "/ ignoring (predicted_class) group_left\n"
            f"{predictions_total}",
        },
        {
            "record": prediction_psi,
            "expr": _psi(prediction_share, names.PREDICTION_REFERENCE_SHARE.series, BY_JOB, class_keys),
        },
        {"record": labels, "expr": f"sum by ({BY_JOB}) (increase({feedback}[{window}]))"},
        {
            "record": accuracy,
            "expr": f'sum by ({BY_JOB}) (increase({feedback}{{outcome="correct"}}[{window}]))\n/\n{labels}',
        },
    ]


def _ks_rule() -> Rule:
    feature_keys = f"{BY_JOB}, feature"
    return {
        "record": FEATURE_KS,
        "expr": f"max by ({feature_keys}) (\n"
        "  abs(\n"
        f"    sum by ({feature_keys}, le) (increase({names.FEATURE_VALUE.bucket}[1h]))\n"
        "    / ignoring (le) group_left\n"
        f"    sum by ({feature_keys}) (increase({names.FEATURE_VALUE.count}[1h]))\n"
        f"    - on ({feature_keys}, le)\n"
        f"    max by ({feature_keys}, le) ({names.FEATURE_REFERENCE_CDF.series})\n"
        "  )\n"
        ")",
    }


def _alert(  # noqa: PLR0917 (one alert reads best as its fields in order)
    name: str,
    expr: str,
    duration: str,
    severity: str,
    summary: str,
    description: str,
    runbook: str | None = None,
) -> Rule:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{RUNBOOK_URL}#{runbook or name.lower()}",
        },
    }


def _burn(objective: Slo, windows: tuple[BurnWindow, ...]) -> str:
    """Both windows of each pair above the burn rate; any pair fires."""
    budget = f"{objective.budget:g}"
    pairs = [
        "(\n"
        f"  {slo_ratio(objective, window.short)} > ({window.factor:g} * {budget})\n"
        "  and\n"
        f"  {slo_ratio(objective, window.long)} > ({window.factor:g} * {budget})\n"
        ")"
        for window in windows
    ]
    return "\nor\n".join(pairs)


def _with_evidence(condition: str, keys: str, evidence: str) -> str:
    return f"{condition}\nand on ({keys})\n{evidence}"


def _slo_alerts() -> list[Rule]:
    """Multi-window, multi-burn-rate alerts on both SLOs."""
    return [
        _alert(
            "ModelServiceAvailabilityBurnRateCritical",
            _burn(slo.AVAILABILITY, slo.PAGE),
            "2m",
            "critical",
            f"{JOB} is burning its availability error budget fast",
            f"5xx ratio {VALUE_PERCENT} is at 6x-14.4x the rate that spends the 99.9% availability budget in 30 days.",
        ),
        _alert(
            "ModelServiceAvailabilityBurnRateWarning",
            _burn(slo.AVAILABILITY, slo.TICKET),
            "1h",
            "warning",
            f"{JOB} is slowly burning its availability error budget",
            f"5xx ratio {VALUE_PERCENT} over hours to days will spend the 99.9% budget before the month ends.",
        ),
        _alert(
            "ModelServiceLatencyBurnRateCritical",
            _burn(slo.LATENCY, slo.PAGE),
            "2m",
            "critical",
            f"{JOB} answers too many inference requests slower than 100 ms",
            f"{VALUE_PERCENT} of inference requests take over 100 ms; the SLO allows 1%.",
        ),
        _alert(
            "ModelServiceLatencyBurnRateWarning",
            _burn(slo.LATENCY, slo.TICKET),
            "1h",
            "warning",
            f"{JOB} latency SLO budget is being spent",
            f"{VALUE_PERCENT} of inference requests over 100 ms across hours to days.",
        ),
    ]


def _model_alerts() -> list[Rule]:
    """Drift of inputs and predictions, and accuracy from labels, over the last ALERT_WINDOW; and
    a warning when there is too little evidence to judge either (rather than silence)."""
    feature = f"{BY_JOB}, feature"
    requests = names.REQUESTS.series
    return [
        _alert(
            "ModelFeatureDriftWarning",
            _with_evidence(
                f"{FEATURE_PSI_SHORT} > {PSI_WARNING:g}", feature, f"{FEATURE_ROWS_SHORT} >= {MIN_ROWS_FOR_DRIFT}"
            ),
            "3m",
            "warning",
            f"Feature {{{{ $labels.feature }}}} drifts from the training data (PSI {PSI_VALUE})",
            f"The population stability index of {{{{ $labels.feature }}}} over the last {ALERT_WINDOW} is above "
            f"{PSI_WARNING:g}: live inputs differ from the training distribution.",
            runbook="modelfeaturedrift",
        ),
        _alert(
            "ModelFeatureDriftCritical",
            _with_evidence(
                f"{FEATURE_PSI_SHORT} > {PSI_CRITICAL:g}", feature, f"{FEATURE_ROWS_SHORT} >= {MIN_ROWS_FOR_DRIFT}"
            ),
            "3m",
            "critical",
            f"Feature {{{{ $labels.feature }}}} has shifted away from the training data (PSI {PSI_VALUE})",
            f"PSI above {PSI_CRITICAL:g} over the last {ALERT_WINDOW}: predictions on these inputs are not covered by "
            "what the model was trained and evaluated on.",
            runbook="modelfeaturedrift",
        ),
        _alert(
            "ModelPredictionDistributionShift",
            _with_evidence(
                f"{PREDICTION_PSI_SHORT} > {PREDICTION_PSI_WARNING:g}",
                BY_JOB,
                f"{PREDICTIONS_SHORT} >= {MIN_ROWS_FOR_DRIFT}",
            ),
            "5m",
            "warning",
            f"{JOB} predicts classes in proportions unlike training (PSI {PSI_VALUE})",
            f"The share of predicted classes over the last {ALERT_WINDOW} differs from the predictions on the "
            "training rows.",
        ),
        _alert(
            "ModelAccuracyDrop",
            _with_evidence(
                f"{ACCURACY_SHORT} < {ACCURACY_FLOOR:g}", BY_JOB, f"{FEEDBACK_SHORT} >= {MIN_LABELS_FOR_ACCURACY}"
            ),
            "3m",
            "critical",
            f"{JOB} accuracy on labelled feedback is {VALUE_PERCENT}",
            f"Accuracy from /feedback labels over the last {ALERT_WINDOW} is below 85% (the model was released at "
            "90% or more).",
        ),
        _alert(
            "ModelDriftUnmeasured",
            f"max by ({BY_JOB}) ({FEATURE_ROWS_SHORT}) < {MIN_ROWS_FOR_DRIFT}\n"
            f"and on ({BY_JOB})\nsum by ({BY_JOB}) (rate({requests}{{{INFERENCE_ROUTES}}}[{ALERT_WINDOW}])) > 0",
            "1h",
            "warning",
            f"{JOB} serves too few rows for drift to be judged",
            f"Fewer than {MIN_ROWS_FOR_DRIFT} rows in {ALERT_WINDOW} for an hour: the drift alerts cannot fire. "
            "Watch the Model quality board's 1h panels, or lower the evidence bar for this traffic.",
        ),
        _alert(
            "ModelAccuracyUnmeasured",
            f"{PREDICTIONS_1H} > 0\nunless on ({BY_JOB})\n{FEEDBACK_1H} >= {MIN_LABELS_FOR_ACCURACY}",
            "2h",
            "warning",
            f"{JOB} gets too few labels for accuracy to be judged",
            f"The service predicts, but fewer than {MIN_LABELS_FOR_ACCURACY} labels an hour reach /feedback: accuracy "
            "in production is unknown. Check the labelling system and its credential.",
        ),
        _alert(
            "ModelProductionDataDropped",
            f"sum by ({BY_JOB}, stream) (increase({names.STORE_DROPPED.series}[15m])) > 0",
            "15m",
            "warning",
            f"{JOB} is losing {{{{ $labels.stream }}}} records before they reach S3",
            "Captured requests or labels were dropped (buffer full or uploads failing) for 15 minutes: drift "
            "analysis, accuracy and retraining will miss them.",
        ),
    ]


def _service_alerts() -> list[Rule]:
    """The service itself: traffic, scrapes, readiness, bad input, restarts."""
    requests = names.REQUESTS.series
    return [
        _alert(
            "ModelServiceNoTraffic",
            f"sum by ({BY_JOB}) (rate({requests}{{{INFERENCE_ROUTES}}}[15m])) == 0",
            "30m",
            "warning",
            f"{JOB} has served no inference request for 30 minutes",
            "The service is up but nothing reaches its inference routes: check the clients, the Service and the "
            "NetworkPolicy.",
        ),
        _alert(
            "ModelServiceTargetDown",
            'up{job=~".*model-service.*"} == 0',
            "5m",
            "critical",
            "Prometheus cannot scrape {{ $labels.instance }} of {{ $labels.job }}",
            "The scrape target has been down for 5 minutes: the pod is gone, crashing, or unreachable.",
        ),
        _alert(
            "ModelNotReady",
            f"{names.MODEL_READY.series} == 0",
            "5m",
            "critical",
            "{{ $labels.instance }} has no model loaded",
            "The server is running but its model did not load or failed validation; it is not ready and takes no "
            "traffic. GET /v2/health/ready says why.",
        ),
        _alert(
            "ModelServiceValidationErrorSurge",
            f"sum by ({BY_JOB}) (rate({names.VALIDATION_FAILURES.series}[5m]))\n"
            "/\n"
            f"sum by ({BY_JOB}) (rate({requests}[5m])) > 0.2\n"
            f"and on ({BY_JOB})\n"
            f"sum by ({BY_JOB}) (rate({requests}[5m])) > 0.1",
            "10m",
            "warning",
            f"{VALUE_PERCENT} of requests to {JOB} are refused as bad input",
            f"A client is sending malformed requests (see {names.VALIDATION_FAILURES.series} by reason).",
        ),
        _alert(
            "ModelServicePodRestarts",
            'increase(kube_pod_container_status_restarts_total{container="model-service"}[1h]) > 3',
            "5m",
            "warning",
            '{{ $labels.pod }} restarted {{ $value | printf "%.0f" }} times in an hour',
            "The model-service container keeps restarting: look at its last logs and its events.",
        ),
    ]


def alerting_rules() -> list[Rule]:
    return [*_slo_alerts(), *_model_alerts(), *_service_alerts()]


def rule_groups() -> dict[str, Any]:
    return {
        "groups": [
            {"name": "model-service.recording", "rules": recording_rules()},
            {"name": "model-service.alerts", "rules": alerting_rules()},
        ]
    }

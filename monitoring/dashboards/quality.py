"""The "Model quality" board: input drift, prediction shift, confidence and accuracy."""

from __future__ import annotations

from monitoring import names, rules
from monitoring.dashboards.common import SELECTOR, SERVICE_LOGS, rate, service_variables
from monitoring.dashboards.layout import Board

PSI_THRESHOLDS = [(rules.PSI_WARNING, "orange"), (rules.PSI_CRITICAL, "red")]
FEATURE = 'feature=~"$feature"'


def board() -> Board:
    b = Board(
        "model-quality",
        "Model quality",
        "Drift of inputs and predictions against the training data, confidence and accuracy from feedback.",
        service_variables(),
    )
    b.row("Input drift")
    b.prometheus(
        "PSI by feature (1h)",
        "Population stability index of each feature over the last hour against the "
        "training data. Above 0.1: drifting (warning); above 0.25: shifted (critical).",
        "none",
        [(f"max by (feature) ({rules.FEATURE_PSI}{{{SELECTOR}}})", "{{feature}}")],
        width=24,
        thresholds=PSI_THRESHOLDS,
        minimum=0,
    )
    b.prometheus(
        "KS distance by feature (1h)",
        "Binned Kolmogorov-Smirnov distance: the largest gap between the live "
        "and the training cumulative distribution.",
        "percentunit",
        [(f"max by (feature) ({rules.FEATURE_KS}{{{SELECTOR}}})", "{{feature}}")],
        minimum=0,
    )
    b.prometheus(
        "Live vs reference share per bin",
        "Share of rows per drift bin over the last hour (live) and on the "
        "training data (reference), for the features chosen in the Feature variable.",
        "percentunit",
        [
            (
                f"sum by (feature, bin) ({rules.FEATURE_LIVE_SHARE}{{{SELECTOR}, {FEATURE}}})",
                "live {{feature}} bin {{bin}}",
            ),
            (
                f"max by (feature, bin) ({names.FEATURE_REFERENCE_SHARE.series}{{{SELECTOR}, {FEATURE}}})",
                "reference {{feature}} bin {{bin}}",
            ),
        ],
        kind="barchart",
    )
    b.row("Predictions")
    b.prometheus(
        "Predicted class shares (1h)",
        "Share of each predicted class over the last hour; the dashed lines are the shares on the training data.",
        "percentunit",
        [
            (f"sum by (predicted_class) ({rules.PREDICTION_SHARE}{{{SELECTOR}}})", "{{predicted_class}}"),
            (
                f"max by (predicted_class) ({names.PREDICTION_REFERENCE_SHARE.series}{{{SELECTOR}}})",
                "training {{predicted_class}}",
            ),
        ],
    )
    b.prometheus(
        "Prediction PSI (1h)",
        "PSI of the predicted class distribution against training.",
        "none",
        [(f"max({rules.PREDICTION_PSI}{{{SELECTOR}}})", "PSI")],
        kind="stat",
        width=6,
        thresholds=PSI_THRESHOLDS,
    )
    b.prometheus(
        "Predictions per second by class",
        "Prediction rate by class.",
        "reqps",
        [(f"sum by (predicted_class) ({rate(names.PREDICTIONS.series)})", "{{predicted_class}}")],
        width=6,
    )
    confidence = rate(names.CONFIDENCE.bucket)
    b.prometheus(
        "Confidence p50 / p10",
        "Probability of the predicted class: median and 10th percentile.",
        "percentunit",
        [
            (f"histogram_quantile(0.5, sum by (le) ({confidence}))", "p50"),
            (f"histogram_quantile(0.1, sum by (le) ({confidence}))", "p10"),
        ],
        minimum=0,
    )
    b.row("Accuracy from feedback")
    b.prometheus(
        "Accuracy (1h)",
        "Share of labelled predictions that were right, from /feedback, over the last hour.",
        "percentunit",
        [(f"max({rules.ACCURACY}{{{SELECTOR}}})", "accuracy")],
        kind="stat",
        width=6,
        thresholds=[(0.0, "red"), (rules.ACCURACY_FLOOR, "green")],
    )
    b.prometheus(
        "Feedback volume",
        "Labelled predictions per second, by outcome.",
        "reqps",
        [(f"sum by (outcome) ({rate(names.FEEDBACK.series)})", "{{outcome}}")],
        width=18,
    )
    b.prometheus(
        "Label coverage (1h)",
        "Labelled rows per predicted row over the last hour: how much of production accuracy is seen.",
        "percentunit",
        [(f"max({rules.LABEL_COVERAGE}{{{SELECTOR}}})", "coverage")],
        kind="stat",
        width=6,
    )
    delay = rate(names.LABEL_DELAY.bucket)
    b.prometheus(
        "Label delay p50 / p95",
        "Time from a prediction to its label, from /feedback.",
        "s",
        [
            (f"histogram_quantile(0.5, sum by (le) ({delay}))", "p50"),
            (f"histogram_quantile(0.95, sum by (le) ({delay}))", "p95"),
        ],
        minimum=0,
        width=6,
    )
    b.prometheus(
        "Production data kept and dropped",
        "Lines queued for S3 per second (capture: sampled requests; ground_truth: labels), and lines "
        "that never reached S3 (buffer full, upload failed).",
        "ops",
        [
            (f"sum by (stream) ({rate(names.STORED.series)})", "kept {{stream}}"),
            (f"sum by (stream, reason) ({rate(names.STORE_DROPPED.series)})", "dropped {{stream}} ({{reason}})"),
        ],
        minimum=0,
        width=12,
    )
    b.logs("Model service logs", "Recent log lines of the model service.", f"{SERVICE_LOGS} | json")
    return b

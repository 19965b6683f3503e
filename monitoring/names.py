"""Every metric the model service exports, with its type, help text and labels, and the bounded
values its labels take: the one catalogue the service, the rules, the dashboards and the tests
import. Standard library only (the model-service image ships this module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Metric:
    """One metric family. `name` is the family name as the Prometheus client takes it; `series`
    is what PromQL queries (counters gain `_total`; histograms have `bucket`, `count`, `sum`)."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    labels: tuple[str, ...] = ()

    @property
    def series(self) -> str:
        return f"{self.name}_total" if self.kind == "counter" else self.name

    @property
    def bucket(self) -> str:
        return self._histogram_series("bucket")

    @property
    def count(self) -> str:
        return self._histogram_series("count")

    @property
    def sum(self) -> str:
        return self._histogram_series("sum")

    def _histogram_series(self, suffix: str) -> str:
        if self.kind != "histogram":
            raise TypeError(f"{self.name} is a {self.kind}, not a histogram")
        return f"{self.name}_{suffix}"


# -- system ------------------------------------------------------------------------------------
REQUESTS = Metric(
    "model_service_requests", "counter", "HTTP requests by route template and status class.", ("route", "status_class")
)
REQUEST_DURATION = Metric(
    "model_service_request_duration_seconds",
    "histogram",
    "Time from request start to the response's last byte.",
    ("route", "status_class"),
)
IN_FLIGHT = Metric("model_service_requests_in_flight", "gauge", "Requests being served now.")
BATCH_SIZE = Metric("model_service_batch_size", "histogram", "Rows per model call (adaptive batching).")
MODEL_CALL_DURATION = Metric("model_service_model_call_duration_seconds", "histogram", "Duration of one model call.")
VALIDATION_FAILURES = Metric(
    "model_service_validation_failures", "counter", "Requests refused for bad input, by reason.", ("reason",)
)
MODEL_READY = Metric("model_service_model_ready", "gauge", "1 once the model is loaded and validated.")

# -- model -------------------------------------------------------------------------------------
PREDICTIONS = Metric("model_predictions", "counter", "Predictions by predicted class.", ("predicted_class",))
CONFIDENCE = Metric("model_prediction_confidence", "histogram", "Probability of the predicted class.")
FEEDBACK = Metric("model_feedback", "counter", "Labelled outcomes from /feedback (correct or incorrect).", ("outcome",))
MODEL_INFO = Metric(
    "model_info", "gauge", "Always 1; labels name the served model.", ("model_name", "model_version", "trained_at")
)

# -- production data kept (model_service.capture) -------------------------------------------------
STORED = Metric(
    "model_stored_records",
    "counter",
    "Lines queued for S3: sampled requests with predictions (capture) and labels (ground_truth).",
    ("stream",),
)
STORE_DROPPED = Metric(
    "model_store_dropped_records",
    "counter",
    "Lines that never reached S3, by stream and reason (buffer_full, upload_failed).",
    ("stream", "reason"),
)
LABEL_DELAY = Metric("model_label_delay_seconds", "histogram", "Time from a prediction to its label.")

# -- drift -------------------------------------------------------------------------------------
FEATURE_BIN = Metric(
    "model_feature_bin",
    "counter",
    "Rows served, by feature and drift bin (bins from the training quantiles; every bin exists from start-up).",
    ("feature", "bin"),
)
FEATURE_REFERENCE_SHARE = Metric(
    "model_feature_reference_share", "gauge", "Share of training rows in each drift bin.", ("feature", "bin")
)
FEATURE_VALUE = Metric(
    "model_feature_value",
    "histogram",
    "Feature values served, cumulative over the drift bin edges (for a binned KS distance).",
    ("feature",),
)
FEATURE_REFERENCE_CDF = Metric(
    "model_feature_reference_cdf", "gauge", "Share of training rows at or below each bin edge `le`.", ("feature", "le")
)
PREDICTION_REFERENCE_SHARE = Metric(
    "model_prediction_reference_share",
    "gauge",
    "Share of each predicted class on the training rows.",
    ("predicted_class",),
)

ALL = (
    STORED,
    STORE_DROPPED,
    LABEL_DELAY,
    REQUESTS,
    REQUEST_DURATION,
    IN_FLIGHT,
    BATCH_SIZE,
    MODEL_CALL_DURATION,
    VALIDATION_FAILURES,
    MODEL_READY,
    PREDICTIONS,
    CONFIDENCE,
    FEEDBACK,
    MODEL_INFO,
    FEATURE_BIN,
    FEATURE_REFERENCE_SHARE,
    FEATURE_VALUE,
    FEATURE_REFERENCE_CDF,
    PREDICTION_REFERENCE_SHARE,
)

# -- bounded label values and buckets ----------------------------------------------------------
STATUS_CLASSES = ("2xx", "4xx", "5xx")
VALIDATION_REASONS = (
    "malformed_json",
    "content_type",
    "body_too_large",
    "schema",
    "datatype",
    "shape",
    "feature_count",
    "non_numeric",
    "non_finite",
    "empty_batch",
    "too_many_rows",
    "unknown_model",
    "bad_label",
    # the request itself
    "bad_request_id",
    "out_of_range",
    "binary_data",
    "malformed_http",
    "header_too_large",
    "too_many_headers",
    "header_timeout",
    "body_timeout",
    # feedback
    "bad_feedback_id",
    "expired_feedback_id",
    "already_labelled",
    "unauthorized",
    "feedback_disabled",
)
FEEDBACK_OUTCOMES = ("correct", "incorrect")
STORE_STREAMS = ("capture", "ground_truth")
STORE_DROP_REASONS = ("buffer_full", "upload_failed")
# A minute to a week.
LABEL_DELAY_BUCKETS = (60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400)
# The latency SLO's threshold (monitoring.slo) must be one of these bounds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024)
CONFIDENCE_BUCKETS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)

"""Prometheus metrics of the model service (the reference table is in the README).

Every label is bounded: route templates, status classes, feature names, bin indices, class names.
The drift families are produced by `DriftCollector` from numpy counters updated once per batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from model_service.artifact import LoadedModel
from model_service.drift import BinCounter

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024)
CONFIDENCE_BUCKETS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
STATUS_CLASSES = ("2xx", "4xx", "5xx")
VALIDATION_REASONS = ("malformed_json", "content_type", "body_too_large", "schema", "datatype", "shape",
                      "feature_count", "non_numeric", "non_finite", "empty_batch", "too_many_rows",
                      "unknown_model", "unknown_request_id", "bad_label")
FEEDBACK_OUTCOMES = ("correct", "incorrect")


class DriftCollector(Collector):
    """Per-feature bin counters, the reference shares and CDF, and a cumulative histogram per feature."""

    def __init__(self) -> None:
        self.counter: BinCounter | None = None
        self.model: LoadedModel | None = None

    def attach(self, model: LoadedModel) -> BinCounter:
        self.model = model
        self.counter = BinCounter(model.drift)
        return self.counter

    def collect(self) -> Iterator[Metric]:
        bins = CounterMetricFamily("model_feature_bin", "Rows served, by feature and drift bin (bins from the "
                                   "training quantiles; every bin exists from start-up).", labels=["feature", "bin"])
        shares = GaugeMetricFamily("model_feature_reference_share", "Share of training rows in each drift bin.",
                                   labels=["feature", "bin"])
        values = HistogramMetricFamily("model_feature_value", "Feature values served, cumulative over the drift "
                                       "bin edges (for a binned KS distance).", labels=["feature"])
        cdf = GaugeMetricFamily("model_feature_reference_cdf", "Share of training rows at or below each bin "
                                "edge `le`.", labels=["feature", "le"])
        classes = GaugeMetricFamily("model_prediction_reference_share", "Share of each predicted class on the "
                                    "training rows.", labels=["predicted_class"])
        if self.counter is not None and self.model is not None:
            counts, sums = self.counter.counts, self.counter.sums
            for index, feature in enumerate(self.model.drift.features):
                row = counts[index, : feature.bin_count]
                cumulative = np.cumsum(row)
                reference_cumulative = np.cumsum(feature.shares)
                buckets = []
                for bin_index in range(feature.bin_count):
                    bins.add_metric([feature.name, str(bin_index)], float(row[bin_index]))
                    shares.add_metric([feature.name, str(bin_index)], feature.shares[bin_index])
                for edge_index, edge in enumerate(feature.edges):
                    le = floatToGoString(edge)
                    buckets.append((le, float(cumulative[edge_index])))
                    cdf.add_metric([feature.name, le], float(reference_cumulative[edge_index]))
                buckets.append(("+Inf", float(cumulative[-1])))
                cdf.add_metric([feature.name, "+Inf"], 1.0)
                values.add_metric([feature.name], buckets, sum_value=float(sums[index]))
            for name, share in self.model.drift.class_shares.items():
                classes.add_metric([name], share)
        yield from (bins, shares, values, cdf, classes)


class ServiceMetrics:
    """All metric objects of one server, in their own registry."""

    def __init__(self, routes: Sequence[str]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("model_service_requests", "HTTP requests by route template and status class.",
                                ["route", "status_class"], registry=r)
        self.request_duration = Histogram("model_service_request_duration_seconds",
                                          "Time from request start to the response's last byte.",
                                          ["route", "status_class"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("model_service_requests_in_flight", "Requests being served now.", registry=r)
        self.batch_size = Histogram("model_service_batch_size", "Rows per model call (adaptive batching).",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.model_call = Histogram("model_service_model_call_duration_seconds", "Duration of one model call.",
                                    buckets=LATENCY_BUCKETS, registry=r)
        self.validation_failures = Counter("model_service_validation_failures",
                                           "Requests refused for bad input, by reason.", ["reason"], registry=r)
        self.model_ready = Gauge("model_service_model_ready", "1 once the model is loaded and validated.",
                                 registry=r)
        self.predictions = Counter("model_predictions", "Predictions by predicted class.", ["predicted_class"],
                                   registry=r)
        self.confidence = Histogram("model_prediction_confidence", "Probability of the predicted class.",
                                    buckets=CONFIDENCE_BUCKETS, registry=r)
        self.feedback = Counter("model_feedback", "Labelled outcomes from /feedback (correct or incorrect).",
                                ["outcome"], registry=r)
        self.info = Gauge("model_info", "Always 1; labels name the served model.",
                          ["model_name", "model_version", "trained_at"], registry=r)
        self.drift = DriftCollector()
        r.register(self.drift)
        self._request_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        for route in routes:
            for status_class in STATUS_CLASSES:
                self._children(route, status_class)
        self._reasons = {reason: self.validation_failures.labels(reason) for reason in VALIDATION_REASONS}
        self._outcomes = {outcome: self.feedback.labels(outcome) for outcome in FEEDBACK_OUTCOMES}
        self._class_counters: list[Counter] = []
        self._bin_counter: BinCounter | None = None

    def _children(self, route: str, status_class: str) -> tuple[Counter, Histogram]:
        key = (route, status_class)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(route, status_class), self.request_duration.labels(route, status_class))
            self._request_children[key] = children
        return children

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        counter, histogram = self._children(route, f"{status // 100}xx")
        counter.inc()
        histogram.observe(seconds)

    def validation_failure(self, reason: str) -> None:
        self._reasons[reason].inc()

    def feedback_outcome(self, correct: bool, count: int = 1) -> None:
        self._outcomes["correct" if correct else "incorrect"].inc(count)

    def model_loaded(self, model: LoadedModel) -> None:
        self.info.labels(model.name, model.version, model.trained_at).set(1)
        self._class_counters = [self.predictions.labels(name) for name in model.class_names]
        self._bin_counter = self.drift.attach(model)
        self.model_ready.set(1)

    def observe_batch(self, rows: np.ndarray, labels: np.ndarray, confidence: np.ndarray, seconds: float) -> None:
        self.batch_size.observe(len(rows))
        self.model_call.observe(seconds)
        for class_index, count in enumerate(np.bincount(labels, minlength=len(self._class_counters))):
            if count:
                self._class_counters[class_index].inc(int(count))
        for value in confidence.tolist():
            self.confidence.observe(value)
        if self._bin_counter is not None:
            self._bin_counter.add(rows)

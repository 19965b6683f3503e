"""Prometheus metrics of the model service (the reference table is in the README).

Every label is bounded: route templates, status classes, feature names, bin indices, class names.
The drift families are produced by `DriftCollector` from numpy counters updated once per batch.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from model_service.artifact import LoadedModel
from model_service.drift import BinCounter

# `_created` series double every counter's series count and no rule or dashboard reads them.
disable_created_metrics()

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024)
CONFIDENCE_BUCKETS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
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
    "unknown_request_id",
    "bad_label",
)
FEEDBACK_OUTCOMES = ("correct", "incorrect")


class LoopHistogram(Collector):
    """A labelled histogram (and its matching counter) updated from the event loop thread only.

    prometheus_client's metric objects take a lock on every update; the request path updates a
    few of them per request, so these counters are plain Python lists that only the event loop
    writes, rendered into ordinary metric families at scrape time (which also runs on the loop).
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        *,
        counter_name: str | None = None,
        counter_documentation: str = "",
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = list(labelnames)
        self.bounds = [float(b) for b in buckets]
        self.counter_name = counter_name
        self.counter_documentation = counter_documentation
        # labels -> [per-bucket counts (last is +Inf), sum]
        self._series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def series(self, labels: tuple[str, ...]) -> tuple[list[int], list[float]]:
        found = self._series.get(labels)
        if found is None:
            found = ([0] * (len(self.bounds) + 1), [0.0])
            self._series[labels] = found
        return found

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        counts, total = self._series.get(labels) or self.series(labels)
        counts[bisect_left(self.bounds, value)] += 1
        total[0] += value

    def observe_many(self, labels: tuple[str, ...], values: np.ndarray) -> None:
        counts, total = self._series.get(labels) or self.series(labels)
        for index, count in enumerate(
            np.bincount(np.searchsorted(self.bounds, values, side="left"), minlength=len(counts)).tolist()
        ):
            counts[index] += count
        total[0] += float(values.sum())

    def collect(self) -> Iterator[Metric]:
        histogram = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        counter = CounterMetricFamily(self.counter_name or "unused", self.counter_documentation, labels=self.labelnames)
        for labels, (counts, total) in self._series.items():
            cumulative = list(itertools.accumulate(counts))
            buckets = [(floatToGoString(b), float(c)) for b, c in zip(self.bounds, cumulative, strict=False)]
            buckets.append(("+Inf", float(cumulative[-1])))
            histogram.add_metric(list(labels), buckets, sum_value=total[0])
            counter.add_metric(list(labels), float(cumulative[-1]))
        yield histogram
        if self.counter_name:
            yield counter


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
        bins = CounterMetricFamily(
            "model_feature_bin",
            "Rows served, by feature and drift bin (bins from the training quantiles; every bin exists from start-up).",
            labels=["feature", "bin"],
        )
        shares = GaugeMetricFamily(
            "model_feature_reference_share", "Share of training rows in each drift bin.", labels=["feature", "bin"]
        )
        values = HistogramMetricFamily(
            "model_feature_value",
            "Feature values served, cumulative over the drift bin edges (for a binned KS distance).",
            labels=["feature"],
        )
        cdf = GaugeMetricFamily(
            "model_feature_reference_cdf",
            "Share of training rows at or below each bin edge `le`.",
            labels=["feature", "le"],
        )
        classes = GaugeMetricFamily(
            "model_prediction_reference_share",
            "Share of each predicted class on the training rows.",
            labels=["predicted_class"],
        )
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
        self.request_duration = LoopHistogram(
            "model_service_request_duration_seconds",
            "Time from request start to the response's last byte.",
            ["route", "status_class"],
            LATENCY_BUCKETS,
            counter_name="model_service_requests",
            counter_documentation="HTTP requests by route template and status class.",
        )
        r.register(self.request_duration)
        self.in_flight = 0
        Gauge("model_service_requests_in_flight", "Requests being served now.", registry=r).set_function(
            lambda: self.in_flight
        )
        self.batch_size = LoopHistogram(
            "model_service_batch_size", "Rows per model call (adaptive batching).", [], BATCH_BUCKETS
        )
        self.model_call = LoopHistogram(
            "model_service_model_call_duration_seconds", "Duration of one model call.", [], LATENCY_BUCKETS
        )
        r.register(self.batch_size)
        r.register(self.model_call)
        self.validation_failures = Counter(
            "model_service_validation_failures", "Requests refused for bad input, by reason.", ["reason"], registry=r
        )
        self.model_ready = Gauge("model_service_model_ready", "1 once the model is loaded and validated.", registry=r)
        self.predictions = Counter(
            "model_predictions", "Predictions by predicted class.", ["predicted_class"], registry=r
        )
        self.confidence = LoopHistogram(
            "model_prediction_confidence", "Probability of the predicted class.", [], CONFIDENCE_BUCKETS
        )
        r.register(self.confidence)
        self.feedback = Counter(
            "model_feedback", "Labelled outcomes from /feedback (correct or incorrect).", ["outcome"], registry=r
        )
        self.info = Gauge(
            "model_info",
            "Always 1; labels name the served model.",
            ["model_name", "model_version", "trained_at"],
            registry=r,
        )
        self.drift = DriftCollector()
        r.register(self.drift)
        for route in routes:
            for status_class in STATUS_CLASSES:
                self.request_duration.series((route, status_class))
        self._status_classes = {status: f"{status // 100}xx" for status in range(100, 600)}
        self._reasons = {reason: self.validation_failures.labels(reason) for reason in VALIDATION_REASONS}
        self._outcomes = {outcome: self.feedback.labels(outcome) for outcome in FEEDBACK_OUTCOMES}
        self._class_counters: list[Counter] = []
        self._bin_counter: BinCounter | None = None

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.request_duration.observe((route, self._status_classes.get(status, "5xx")), seconds)

    def validation_failure(self, reason: str) -> None:
        self._reasons[reason].inc()

    def feedback_outcome(self, correct: bool, count: int = 1) -> None:
        self._outcomes["correct" if correct else "incorrect"].inc(count)

    def model_loaded(self, model: LoadedModel) -> None:
        self.info.labels(model.name, model.version, model.trained_at).set(1)
        self._class_counters = [self.predictions.labels(name) for name in model.class_names]
        self._bin_counter = self.drift.attach(model)
        self.model_ready.set(1)

    def observe_batch(self, rows: np.ndarray, probabilities: np.ndarray, labels: np.ndarray, seconds: float) -> None:
        self.batch_size.observe((), len(rows))
        self.model_call.observe((), seconds)
        for class_index, count in enumerate(np.bincount(labels, minlength=len(self._class_counters)).tolist()):
            if count:
                self._class_counters[class_index].inc(count)
        self.confidence.observe_many((), probabilities.max(axis=1))
        if self._bin_counter is not None:
            self._bin_counter.add(rows)

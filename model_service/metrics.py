"""Prometheus metrics of the model service: the instruments behind `monitoring.names`, which
declares every family (name, type, help, labels) once for the service, the rules and dashboards.

Every label is bounded: route templates, status classes, feature names, bin indices, class names.
The drift families are produced by `DriftCollector` from numpy counters updated once per batch.
"""

from __future__ import annotations

import itertools
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, exposition, openmetrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from model_service.artifact import LoadedModel
from model_service.drift import BinCounter
from monitoring import names
from monitoring.names import (
    FEEDBACK_OUTCOMES,
    STATUS_CLASSES,
    STORE_DROP_REASONS,
    STORE_STREAMS,
    VALIDATION_REASONS,
)
from monitoring.names import Metric as CataloguedMetric

FamilyT = TypeVar("FamilyT", CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily)
InstrumentT = TypeVar("InstrumentT", Counter, Gauge)

# Model metrics wait for at most this many rows before they are counted (memory: 13 features and
# 3 classes of float64, under 1 MB).
UNSETTLED_ROWS = 4096

# `_created` series double every counter's series count and no rule or dashboard reads them.
disable_created_metrics()


def _family(kind: type[FamilyT], metric: CataloguedMetric) -> FamilyT:
    """An empty metric family for a catalogued metric (filled at scrape time)."""
    return kind(metric.name, metric.help, labels=list(metric.labels))


def _instrument(kind: type[InstrumentT], metric: CataloguedMetric, registry: CollectorRegistry) -> InstrumentT:
    """A prometheus_client instrument for a catalogued metric."""
    return kind(metric.name, metric.help, list(metric.labels), registry=registry)


class LoopHistogram(Collector):
    """A labelled histogram (and its matching counter) updated from the event loop thread only.

    prometheus_client's metric objects take a lock on every update; the request path updates a
    few of them per request, so these counters are plain Python lists that only the event loop
    writes, rendered into ordinary metric families at scrape time (which also runs on the loop).
    """

    def __init__(
        self, metric: CataloguedMetric, buckets: Sequence[float], *, counter: CataloguedMetric | None = None
    ) -> None:
        self.metric = metric
        self.bounds = [float(b) for b in buckets]
        self.counter = counter
        # labels -> [per-bucket counts (last is +Inf), sum]
        self._series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}
        # labels -> bucket index -> the latest traced observation in it (OpenMetrics exemplars).
        self._exemplars: dict[tuple[str, ...], dict[int, Exemplar]] = {}

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

    def observe_traced(self, labels: tuple[str, ...], value: float, trace_id: str) -> None:
        """Observe, and keep the observation as its bucket's exemplar (linking to its trace)."""
        counts, total = self._series.get(labels) or self.series(labels)
        index = bisect_left(self.bounds, value)
        counts[index] += 1
        total[0] += value
        self._exemplars.setdefault(labels, {})[index] = Exemplar({"trace_id": trace_id}, value, time.time())

    def observe_many(self, labels: tuple[str, ...], values: np.ndarray) -> None:
        counts, total = self._series.get(labels) or self.series(labels)
        for index, count in enumerate(
            np.bincount(np.searchsorted(self.bounds, values, side="left"), minlength=len(counts)).tolist()
        ):
            counts[index] += count
        total[0] += float(values.sum())

    def collect(self) -> Iterator[Metric]:
        histogram = _family(HistogramMetricFamily, self.metric)
        counter = _family(CounterMetricFamily, self.counter) if self.counter else None
        for labels, (counts, total) in self._series.items():
            cumulative = list(itertools.accumulate(counts))
            exemplars = self._exemplars.get(labels, {})
            buckets: list[Any] = [
                (floatToGoString(b), float(c), exemplars[i]) if i in exemplars else (floatToGoString(b), float(c))
                for i, (b, c) in enumerate(zip(self.bounds, cumulative, strict=False))
            ]
            last = len(self.bounds)
            buckets.append(
                ("+Inf", float(cumulative[-1]), exemplars[last])
                if last in exemplars
                else ("+Inf", float(cumulative[-1]))
            )
            histogram.add_metric(list(labels), buckets, sum_value=total[0])
            if counter is not None:
                counter.add_metric(list(labels), float(cumulative[-1]))
        yield histogram
        if counter is not None:
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
        bins = _family(CounterMetricFamily, names.FEATURE_BIN)
        shares = _family(GaugeMetricFamily, names.FEATURE_REFERENCE_SHARE)
        values = _family(HistogramMetricFamily, names.FEATURE_VALUE)
        cdf = _family(GaugeMetricFamily, names.FEATURE_REFERENCE_CDF)
        classes = _family(GaugeMetricFamily, names.PREDICTION_REFERENCE_SHARE)
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

    def __init__(self, routes: Sequence[str], model_metrics: bool = True) -> None:
        # False: no prediction, confidence or drift metrics (MODEL_METRICS); the request and batch
        # metrics (rate, errors, latency, batch size, model call time) are always kept.
        self.model_metrics = model_metrics
        self.registry = CollectorRegistry()
        r = self.registry
        self.request_duration = LoopHistogram(names.REQUEST_DURATION, names.LATENCY_BUCKETS, counter=names.REQUESTS)
        r.register(self.request_duration)
        self.in_flight = 0
        _instrument(Gauge, names.IN_FLIGHT, r).set_function(lambda: self.in_flight)
        self.batch_size = LoopHistogram(names.BATCH_SIZE, names.BATCH_BUCKETS)
        self.model_call = LoopHistogram(names.MODEL_CALL_DURATION, names.LATENCY_BUCKETS)
        r.register(self.batch_size)
        r.register(self.model_call)
        self.validation_failures = _instrument(Counter, names.VALIDATION_FAILURES, r)
        self.model_ready = _instrument(Gauge, names.MODEL_READY, r)
        self.predictions = _instrument(Counter, names.PREDICTIONS, r)
        self.confidence = LoopHistogram(names.CONFIDENCE, names.CONFIDENCE_BUCKETS)
        r.register(self.confidence)
        self.feedback = _instrument(Counter, names.FEEDBACK, r)
        self.info = _instrument(Gauge, names.MODEL_INFO, r)
        self.drift = DriftCollector()
        r.register(self.drift)
        self.stored = _instrument(Counter, names.STORED, r)
        self.store_dropped = _instrument(Counter, names.STORE_DROPPED, r)
        for stream in STORE_STREAMS:
            self.stored.labels(stream)
            for reason in STORE_DROP_REASONS:
                self.store_dropped.labels(stream, reason)
        self.label_delay = LoopHistogram(names.LABEL_DELAY, names.LABEL_DELAY_BUCKETS)
        self.label_delay.series(())
        r.register(self.label_delay)
        for route in routes:
            for status_class in STATUS_CLASSES:
                self.request_duration.series((route, status_class))
        self._status_classes = {status: f"{status // 100}xx" for status in range(100, 600)}
        self._reasons = {reason: self.validation_failures.labels(reason) for reason in VALIDATION_REASONS}
        self._outcomes = {outcome: self.feedback.labels(outcome) for outcome in FEEDBACK_OUTCOMES}
        self._class_counters: list[Counter] = []
        self._bin_counter: BinCounter | None = None
        # Batches whose model metrics are not yet counted (see observe_batch).
        self._unsettled: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._unsettled_rows = 0

    def observe_request(self, route: str, status: int, seconds: float, trace_id: str | None = None) -> None:
        """Count a request; a traced one becomes its latency bucket's exemplar."""
        labels = (route, self._status_classes.get(status, "5xx"))
        if trace_id is None:
            self.request_duration.observe(labels, seconds)
        else:
            self.request_duration.observe_traced(labels, seconds, trace_id)

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
        """Count a model call. The model metrics (classes, confidence, drift bins) are counted
        later, many batches at once: a dozen numpy calls cost about the same for 4,000 rows as for
        4, so counting each small batch alone would cost more than the rest of the request."""
        self.batch_size.observe((), len(rows))
        self.model_call.observe((), seconds)
        if not self.model_metrics:
            return
        self._unsettled.append((rows, probabilities, labels))
        self._unsettled_rows += len(rows)
        if self._unsettled_rows >= UNSETTLED_ROWS:
            self.settle()

    def settle(self) -> None:
        """Count the waiting batches into the model metrics (before every scrape, and whenever
        UNSETTLED_ROWS rows wait)."""
        if not self._unsettled:
            return
        batches, self._unsettled, self._unsettled_rows = self._unsettled, [], 0
        rows = np.concatenate([batch[0] for batch in batches])
        probabilities = np.concatenate([batch[1] for batch in batches])
        labels = np.concatenate([batch[2] for batch in batches])
        for class_index, count in enumerate(np.bincount(labels, minlength=len(self._class_counters)).tolist()):
            if count:
                self._class_counters[class_index].inc(count)
        self.confidence.observe_many((), probabilities.max(axis=1))
        if self._bin_counter is not None:
            self._bin_counter.add(rows)

    def exposition(self, openmetrics_format: bool = False) -> bytes:
        """Every metric, up to date, as Prometheus text or OpenMetrics (which carries exemplars)."""
        self.settle()
        if openmetrics_format:
            return openmetrics.exposition.generate_latest(self.registry)
        return exposition.generate_latest(self.registry)

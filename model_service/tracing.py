"""Request tracing with OpenTelemetry: a server span per request, with children for parsing,
waiting in the batch and the model call, exported over OTLP/HTTP.

The sampling rule is the SDK's ParentBased(TraceIdRatioBased): a caller's decision stands, a new
trace is sampled when its id falls under the SDK's ratio bound. It is applied where the request's
headers are read, to ids drawn there, so an unsampled request (99 in 100 at the default ratio)
pays for one random number and a small object; the access log writes the ids as hex with the
other lines of its flush.

A sampled request keeps the timestamps taken on the way. Once a second, the spans of the requests
sampled since are built from them, as the SDK's finished-span objects (ReadableSpan) with those
same ids, and handed to the SDK's batch processor and OTLP exporter: the response header, the log
lines and the exported spans always agree, and the request path never builds a live span (the
SDK's Tracer costs about 30 us a span here; a finished span a tenth of that). Rare work costs more
than its own instructions when it runs alone: it finds the caches full of the request path's data
and leaves them full of its own. Building a second's spans at once, and exporting them in large
batches every few seconds, cut the server's CPU time a request by 1 to 3.6 us at 1% sampling
(bench.observability, `all`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from random import getrandbits
from typing import TYPE_CHECKING, NamedTuple

from opentelemetry import trace as trace_api
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from model_service.trace_context import SAMPLED, new_span_id, parse_traceparent

if TYPE_CHECKING:
    from model_service.batching import Batch

_UNSET = trace_api.Status(trace_api.StatusCode.UNSET)
_ERROR = trace_api.Status(trace_api.StatusCode.ERROR)
_ID_LIMIT = (1 << 64) - 1
# Spans kept for export before the SDK drops new ones; at 1% of 15k req/s it fills in 10 s.
MAX_QUEUED_SPANS = 16_384
# Spans per export. Each export has a fixed cost far above the encoding of a span: at 1% of 17k
# req/s (700 spans a second) a batch of 512 left every 0.7 s; this one leaves on the SDK's schedule
# (OTEL_BSP_SCHEDULE_DELAY, 5 s by default), about 3,500 spans in 0.55 MB.
EXPORT_BATCH_SPANS = 4096
# A served request's spans: the server span, parse, batch wait and model call.
SPANS_PER_SERVED_REQUEST = 4
# Sampled requests' spans are built this often, all at once, or as soon as one export batch waits.
BUILD_SECONDS = 1.0
MAX_WAITING_REQUESTS = EXPORT_BATCH_SPANS // SPANS_PER_SERVED_REQUEST


class RequestTrace:
    """The ids of one request's trace."""

    __slots__ = ("parent_span_id", "sampled", "span_id", "trace_id")

    def __init__(self, trace_id: int, span_id: int, sampled: bool, parent_span_id: int | None) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.sampled = sampled
        self.parent_span_id = parent_span_id

    @property
    def trace_id_hex(self) -> str:
        return f"{self.trace_id:032x}"

    @property
    def span_id_hex(self) -> str:
        return f"{self.span_id:016x}"

    def traceresponse(self) -> bytes:
        """The W3C `traceresponse` header: this request's trace and server span."""
        return b"00-%032x-%016x-%s" % (self.trace_id, self.span_id, b"01" if self.sampled else b"00")


class SampledTrace(RequestTrace):
    """A sampled request's trace, with when its phases began and ended (perf_counter() readings):
    only these requests pay for keeping them."""

    __slots__ = ("batch", "parsed_at", "submitted_at")

    def __init__(self, trace_id: int, span_id: int, sampled: bool, parent_span_id: int | None) -> None:
        super().__init__(trace_id, span_id, sampled, parent_span_id)
        self.parsed_at = 0.0
        self.submitted_at = 0.0
        self.batch: Batch | None = None


@dataclass(frozen=True)
class Phase:
    name: str
    started: float  # perf_counter()
    ended: float
    attributes: dict[str, str | int]


class EndedRequest(NamedTuple):
    """A sampled request as recorded, until its spans are built."""

    trace: RequestTrace
    name: str
    started: float
    ended: float
    attributes: dict[str, str | int]
    phases: Sequence[Phase]
    failed: bool


class Tracing:
    """Head sampling and span recording for one server; spans go to `exporter` in batches."""

    def __init__(
        self,
        exporter: SpanExporter,
        sample_ratio: float,
        *,
        service_version: str,
    ) -> None:
        self.sample_ratio = sample_ratio
        self._bound = TraceIdRatioBased.get_bound_for_rate(sample_ratio)
        # OTEL_RESOURCE_ATTRIBUTES (pod, namespace: the chart sets them) is merged in by create().
        self.resource = Resource.create({"service.name": "model-service", "service.version": service_version})
        self._scope = InstrumentationScope("model_service", service_version)
        # The schedule is the SDK's: OTEL_BSP_SCHEDULE_DELAY, or its default of 5 s.
        self.processor = BatchSpanProcessor(
            exporter, max_queue_size=MAX_QUEUED_SPANS, max_export_batch_size=EXPORT_BATCH_SPANS
        )
        # Sampled requests whose spans are not built yet: record()'s arguments.
        self._ended: list[EndedRequest] = []
        # perf_counter() -> Unix nanoseconds, for spans recorded after the fact.
        self._epoch_offset_ns = time.time_ns() - int(time.perf_counter() * 1e9)

    def begin(self, traceparent: bytes | None) -> RequestTrace:
        """Continue the caller's trace, or start one; decide whether it is sampled."""
        if traceparent:
            parent = parse_traceparent(traceparent)
            if parent is not None:
                # Parent-based: the caller's decision stands.
                trace_id, parent_span_id, sampled = parent
                return (SampledTrace if sampled else RequestTrace)(trace_id, new_span_id(), sampled, parent_span_id)
        # One draw for both ids (every request pays for this): 128 bits of trace id, 64 of span id.
        ids = getrandbits(192)
        trace_id = ids >> 64 or 1
        # The SDK's TraceIdRatioBased rule, applied to the id the request will carry.
        sampled = (trace_id & _ID_LIMIT) < self._bound
        return (SampledTrace if sampled else RequestTrace)(trace_id, ids & _ID_LIMIT or 1, sampled, None)

    def record(
        self,
        trace: RequestTrace,
        name: str,
        *,
        started: float,
        ended: float,
        attributes: dict[str, str | int],
        phases: Sequence[Phase],
        failed: bool,
    ) -> None:
        """Record a sampled request's server span and its phases (perf_counter() times): queued, and
        built with the others within BUILD_SECONDS or at MAX_WAITING_REQUESTS (at once where no
        event loop runs)."""
        request = EndedRequest(trace, name, started, ended, attributes, phases, failed)
        if not self._ended:
            try:
                asyncio.get_running_loop().call_later(BUILD_SECONDS, self.build)
            except RuntimeError:
                self._build(request)
                return
        self._ended.append(request)
        if len(self._ended) >= MAX_WAITING_REQUESTS:
            self.build()

    def build(self) -> None:
        """Build the queued requests' spans and hand them to the batch processor."""
        ended, self._ended = self._ended, []
        for request in ended:
            self._build(request)

    def _build(self, request: EndedRequest) -> None:
        trace, name, started, ended, attributes, phases, failed = request
        flags = trace_api.TraceFlags(SAMPLED)
        parent = None
        if trace.parent_span_id is not None:
            parent = trace_api.SpanContext(trace.trace_id, trace.parent_span_id, is_remote=True, trace_flags=flags)
        server = trace_api.SpanContext(trace.trace_id, trace.span_id, is_remote=False, trace_flags=flags)
        spans = [
            self._span(
                name,
                context=server,
                parent=parent,
                attributes=attributes,
                kind=trace_api.SpanKind.SERVER,
                started=started,
                ended=ended,
                failed=failed,
            )
        ]
        for phase in phases:
            child = trace_api.SpanContext(trace.trace_id, new_span_id(), False, trace_flags=flags)
            spans.append(
                self._span(
                    phase.name,
                    context=child,
                    parent=server,
                    attributes=phase.attributes,
                    kind=trace_api.SpanKind.INTERNAL,
                    started=phase.started,
                    ended=phase.ended,
                )
            )
        for span in spans:
            self.processor.on_end(span)

    def _span(
        self,
        name: str,
        *,
        context: trace_api.SpanContext,
        parent: trace_api.SpanContext | None,
        attributes: dict[str, str | int],
        kind: trace_api.SpanKind,
        started: float,
        ended: float,
        failed: bool = False,
    ) -> ReadableSpan:
        return ReadableSpan(
            name,
            context,
            parent,
            self.resource,
            attributes,
            kind=kind,
            status=_ERROR if failed else _UNSET,
            start_time=self._ns(started),
            end_time=self._ns(ended),
            instrumentation_scope=self._scope,
        )

    def _ns(self, perf_seconds: float) -> int:
        return self._epoch_offset_ns + int(perf_seconds * 1e9)

    def shutdown(self) -> None:
        """Build and export what is queued (at shutdown)."""
        self.build()
        self.processor.shutdown()


def otlp_tracing(endpoint: str, sample_ratio: float, service_version: str) -> Tracing:
    """Tracing that exports to an OTLP/HTTP collector at `endpoint` (Alloy in the cluster)."""
    from model_service.span_encoding import ServiceSpanExporter

    exporter = ServiceSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=5)
    return Tracing(exporter, sample_ratio, service_version=service_version)

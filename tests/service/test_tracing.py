"""Traces, against the real service process exporting over OTLP/HTTP to a receiver in the test:
span names, parent/child links, attributes and the caller's trace id; the same ids in the
response header and the log lines; unsampled requests export nothing; the latency histogram's
exemplars in the OpenMetrics exposition name sampled traces."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceState
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from bench.otlp_receiver import STATUS_ERROR, OtlpReceiver, ReceivedSpan
from model_service.span_encoding import encode_spans
from model_service.trace_context import parse_traceparent, traceparent_in_custom_attributes
from model_service.tracing import BUILD_SECONDS, MAX_WAITING_REQUESTS, Phase, SampledTrace, Tracing
from monitoring import names
from tests.support.model_server import RunningServer, start_server

INFER = "/v2/models/wine-classifier/infer"
ROW = [13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]
BODY = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1, 13], "data": ROW}]}
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


def _server(artifact: Path, log: Path, receiver: OtlpReceiver, ratio: str) -> RunningServer:
    # Exports every 0.2 s instead of the SDK's 5 s: spans arrive within BUILD_SECONDS + 0.2 s.
    return start_server(
        log,
        MODEL_DIR=str(artifact),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        TRACE_SAMPLE_RATIO=ratio,
        OTEL_BSP_SCHEDULE_DELAY="200",
    )


@pytest.fixture(scope="module")
def traced(artifact: Path, tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver) -> Iterator[RunningServer]:
    """A server that samples no new trace of its own: only what callers sampled is recorded."""
    server = _server(artifact, tmp_path_factory.mktemp("traced") / "service.log", receiver, "0")
    yield server
    server.stop()


def _trace(receiver: OtlpReceiver, trace_id: str, spans: int = 4) -> list[ReceivedSpan]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = receiver.traces().get(trace_id, [])
        if len(found) >= spans:
            return found
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id}: {receiver.traces().get(trace_id)}")


def _log_entry(server: RunningServer, request_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in server.log_lines():
            entry = json.loads(line)
            if entry.get("request_id") == request_id and entry.get("message") == "request":
                return entry
        time.sleep(0.05)
    raise AssertionError(f"no access-log line for {request_id}")


def test_a_sampled_callers_trace_is_continued_with_parse_batch_and_model_spans(
    traced: RunningServer, receiver: OtlpReceiver
) -> None:
    response = httpx.post(
        traced.url + INFER,
        json=BODY,
        headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "x-request-id": "traced-1"},
    )
    assert response.status_code == 200
    version, trace_id, server_span, flags = response.headers["traceresponse"].split("-")
    assert (version, trace_id, flags) == ("00", CALLER_TRACE, "01")

    spans = {span.name: span for span in _trace(receiver, CALLER_TRACE)}
    server = spans["POST /v2/models/{name}/infer"]
    assert server.span_id == server_span and server.parent_span_id == CALLER_SPAN
    assert server.kind == SERVER_KIND
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["request.id"] == "traced-1"
    assert server.attributes["model.version"] and server.attributes["rows"] == 1
    assert server.resource["service.name"] == "model-service"
    children = {name: spans[name] for name in ("parse", "batch.wait", "model.predict")}
    for child in children.values():
        assert child.parent_span_id == server_span
        assert server.start_ns <= child.start_ns <= child.end_ns <= server.end_ns
    assert children["model.predict"].attributes["batch.rows"] >= 1
    assert children["model.predict"].attributes["model.version"] == server.attributes["model.version"]
    # parse, then waiting in the batch, then the model call
    assert children["parse"].end_ns <= children["batch.wait"].start_ns + 1000
    assert children["batch.wait"].end_ns <= children["model.predict"].start_ns + 1000

    entry = _log_entry(traced, "traced-1")
    assert (entry["trace_id"], entry["span_id"], entry["trace_sampled"]) == (CALLER_TRACE, server_span, True)


def test_unsampled_requests_export_nothing_but_their_log_lines_carry_ids(
    traced: RunningServer, receiver: OtlpReceiver
) -> None:
    before = len(receiver.spans)
    not_sampled = httpx.post(
        traced.url + INFER, json=BODY, headers={"traceparent": f"00-{'1' * 32}-{'2' * 16}-00", "x-request-id": "u-1"}
    )
    own = httpx.post(traced.url + INFER, json=BODY, headers={"x-request-id": "u-2"})
    malformed = httpx.post(
        traced.url + INFER, json=BODY, headers={"traceparent": "00-zz-not-a-trace", "x-request-id": "u-3"}
    )
    assert not_sampled.status_code == own.status_code == malformed.status_code == 200
    # The caller's unsampled trace is continued (and answered); a new one, unsampled, is not announced.
    assert not_sampled.headers["traceresponse"].split("-")[1] == "1" * 32
    assert "traceresponse" not in own.headers and "traceresponse" not in malformed.headers
    time.sleep(BUILD_SECONDS + 1)  # spans are built, then exported within 0.2 s (OTEL_BSP_SCHEDULE_DELAY)
    assert len(receiver.spans) == before
    first, second, third = (_log_entry(traced, request_id) for request_id in ("u-1", "u-2", "u-3"))
    assert first["trace_id"] == "1" * 32 and first["trace_sampled"] is False
    for entry in (second, third):  # a new trace id each, never all zeros
        assert len(str(entry["trace_id"])) == 32 and entry["trace_id"] != "0" * 32
        assert len(str(entry["span_id"])) == 16 and entry["trace_sampled"] is False
    assert second["trace_id"] != third["trace_id"]


def test_sagemaker_invocations_continue_the_trace_the_proxy_passes_in_custom_attributes(
    traced: RunningServer, receiver: OtlpReceiver
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = httpx.post(
        traced.url + "/invocations",
        json={"instances": [ROW]},
        headers={"x-amzn-sagemaker-custom-attributes": f"tenant=a; traceparent=00-{trace_id}-00f067aa0ba902b7-01"},
    )
    assert response.status_code == 200
    spans = {span.name: span for span in _trace(receiver, trace_id)}
    assert spans["POST /invocations"].parent_span_id == "00f067aa0ba902b7"


def test_a_failed_request_is_a_span_with_error_status(traced: RunningServer, receiver: OtlpReceiver) -> None:
    trace_id = "5" * 32
    response = httpx.post(
        traced.url + INFER,
        content=b"{not json",
        headers={"traceparent": f"00-{trace_id}-{'6' * 16}-01", "content-type": "application/json"},
    )
    assert response.status_code == 400
    (server,) = _trace(receiver, trace_id, spans=1)
    assert server.attributes["http.response.status_code"] == 400
    assert server.status_code != STATUS_ERROR  # the client's mistake, not the server's


def test_latency_exemplars_name_sampled_traces_in_the_openmetrics_exposition(
    artifact: Path, tmp_path: Path, receiver: OtlpReceiver
) -> None:
    server = _server(artifact, tmp_path / "service.log", receiver, "1")
    try:
        ids = set()
        for _ in range(5):
            response = httpx.post(server.url + INFER, json=BODY)
            ids.add(response.headers["traceresponse"].split("-")[1])
        openmetrics = httpx.get(
            server.url + "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
        )
        plain = httpx.get(server.url + "/metrics")
    finally:
        server.stop()
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    exemplars = [
        sample.exemplar
        for family in text_string_to_metric_families(openmetrics.text)
        if family.name == names.REQUEST_DURATION.name
        for sample in family.samples
        if sample.exemplar is not None and sample.labels.get("route") == "/v2/models/{name}/infer"
    ]
    assert exemplars and all(exemplar.labels["trace_id"] in ids for exemplar in exemplars)
    # Plain Prometheus text (no exemplars) for scrapers that do not ask for OpenMetrics.
    assert plain.headers["content-type"].startswith("text/plain") and "trace_id" not in plain.text


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        (f"00-{CALLER_TRACE}-{CALLER_SPAN}-01".encode(), (int(CALLER_TRACE, 16), int(CALLER_SPAN, 16), True)),
        (f"00-{CALLER_TRACE}-{CALLER_SPAN}-00".encode(), (int(CALLER_TRACE, 16), int(CALLER_SPAN, 16), False)),
        (f"00-{'0' * 32}-{CALLER_SPAN}-01".encode(), None),  # an all-zero trace id is invalid
        (f"00-{CALLER_TRACE}-{'0' * 16}-01".encode(), None),
        (f"01-{CALLER_TRACE}-{CALLER_SPAN}-01".encode(), None),  # unknown version
        (f"00-{CALLER_TRACE.upper()}-{CALLER_SPAN}-01".encode(), None),  # hex must be lower case
        (b"00-" + b"a" * 10_000, None),
    ],
)
def test_traceparent_is_parsed_by_the_w3c_rules(header: bytes, parsed: tuple[int, int, bool] | None) -> None:
    assert parse_traceparent(header) == parsed


@pytest.mark.parametrize("ratio", [0.0, 0.01, 0.5, 1.0])
def test_new_traces_are_sampled_by_the_sdks_trace_id_ratio_rule(ratio: float) -> None:
    """The decision is taken where the ids are drawn; it must be the SDK sampler's, id for id."""
    tracing = Tracing(InMemorySpanExporter(), ratio, service_version="1")
    sdk = TraceIdRatioBased(ratio)
    traces = [tracing.begin(None) for _ in range(10_000)]
    for trace in traces:
        assert 0 < trace.trace_id < 1 << 128 and 0 < trace.span_id < 1 << 64
        assert trace.sampled == sdk.should_sample(None, trace.trace_id, "span").decision.is_sampled()
        assert isinstance(trace, SampledTrace) == trace.sampled
    assert len({trace.trace_id for trace in traces}) == len({trace.span_id for trace in traces}) == len(traces)
    expected = {0.0: 0, 1.0: len(traces)}.get(ratio, pytest.approx(ratio * len(traces), rel=0.5))
    assert sum(trace.sampled for trace in traces) == expected


def test_traceparent_is_found_among_sagemaker_custom_attributes() -> None:
    value = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    assert traceparent_in_custom_attributes(f"traceparent={value}".encode()) == value.encode()
    assert traceparent_in_custom_attributes(f"a=b, traceparent={value}".encode()) == value.encode()
    assert traceparent_in_custom_attributes(f"notatraceparent={value}".encode()) is None


def _recorded_spans(ratio: float = 1.0) -> list[ReadableSpan]:
    """Spans as the service records them: a new trace and a caller's, a success and a failure."""
    exporter = InMemorySpanExporter()
    tracing = Tracing(exporter, ratio, service_version="1.2.3")
    now = time.perf_counter()
    phases = [
        Phase("parse", now, now + 0.001, {}),
        Phase("batch.wait", now + 0.001, now + 0.002, {"batch.rows": 3}),
        Phase("model.predict", now + 0.002, now + 0.003, {"batch.rows": 3, "model.version": "v1"}),
    ]
    attributes: dict[str, str | int] = {"http.route": INFER, "http.response.status_code": 200, "rows": 1}
    for traceparent, failed in ((None, False), (f"00-{CALLER_TRACE}-{CALLER_SPAN}-01".encode(), True)):
        trace = tracing.begin(traceparent)
        tracing.record(
            trace, "POST x", started=now, ended=now + 0.004, attributes=attributes, phases=phases, failed=failed
        )
    tracing.shutdown()
    return list(exporter.get_finished_spans())


def test_the_service_span_encoder_writes_what_the_sdk_encoder_writes() -> None:
    """The lean encoder is only a faster route to the same OTLP message."""
    spans = _recorded_spans()
    assert len(spans) == 8
    ours = ExportTraceServiceRequest.FromString(encode_spans(spans))
    assert ours == ExportTraceServiceRequest.FromString(sdk_encode_spans(spans).SerializePartialToString())
    flags = {span.name: span.flags for span in ours.resource_spans[0].scope_spans[0].spans}
    assert len(ours.resource_spans) == 1 and flags["parse"] == 0x100


def test_the_wire_encoder_agrees_with_the_sdk_on_every_scalar_and_optional_field() -> None:
    """Values at their defaults, negative and large numbers, text beyond ASCII, True next to 1
    (equal as Python keys, different on the wire), trace state, kinds, statuses, schema URLs."""
    resource = Resource.create({"service.name": "s", "replicas": 3}, schema_url="https://example.com/r")
    scope = InstrumentationScope("lib", "1.0", "https://example.com/s", {"scope.flag": True})
    state = TraceState([("vendor", "a1"), ("other", "b2")])
    caller = SpanContext(int(CALLER_TRACE, 16), int(CALLER_SPAN, 16), is_remote=True)
    values = [
        {"text": "ünïcode ✓", "empty": "", "yes": True, "no": False, "zero": 0, "negative": -5, "big": 2**62},
        {"pi": 3.14, "negative zero": -0.0, "one": 1, "also one": True},
        {"yes": 1, "one": True},
        {},
    ]
    spans = [
        ReadableSpan(
            f"span {index}",
            SpanContext(int(CALLER_TRACE, 16), index + 1, is_remote=False, trace_state=state if index else None),
            caller if index % 2 else None,
            resource,
            attributes,
            kind=kind,
            status=status,
            start_time=index * 1_000,
            end_time=index * 2_000,
            instrumentation_scope=scope,
        )
        for index, (attributes, kind, status) in enumerate(
            zip(
                values,
                [SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.PRODUCER, SpanKind.CONSUMER],
                [Status(StatusCode.ERROR, "it broke"), Status(StatusCode.OK), Status(StatusCode.UNSET), Status()],
                strict=True,
            )
        )
    ]
    ours = ExportTraceServiceRequest.FromString(encode_spans(spans))
    assert ours == ExportTraceServiceRequest.FromString(sdk_encode_spans(spans).SerializePartialToString())
    encoded = {span.name: span for span in ours.resource_spans[0].scope_spans[0].spans}
    attributes = {item.key: item.value for item in encoded["span 2"].attributes}
    assert attributes["yes"].WhichOneof("value") == "int_value" and attributes["one"].bool_value is True


def test_spans_with_events_are_encoded_by_the_sdk() -> None:
    span = _recorded_spans()[0]
    with_event = ReadableSpan(
        span.name, span.context, span.parent, span.resource, span.attributes, events=[Event("retry", {"n": 1}, 5)]
    )
    encoded = ExportTraceServiceRequest.FromString(encode_spans([with_event]))
    assert encoded.resource_spans[0].scope_spans[0].spans[0].events[0].name == "retry"


def test_on_the_event_loop_spans_are_built_a_second_at_a_time_and_at_shutdown() -> None:
    """record() on the loop only queues; BUILD_SECONDS later, or once MAX_WAITING_REQUESTS wait, the
    queued requests' spans are built together, and shutdown builds and exports what is left."""
    exporter = InMemorySpanExporter()
    tracing = Tracing(exporter, 1.0, service_version="1")
    now = time.perf_counter()

    def record() -> None:
        trace = tracing.begin(None)
        tracing.record(trace, "GET x", started=now, ended=now + 0.001, attributes={}, phases=[], failed=False)

    async def scenario() -> None:
        for _ in range(3):
            record()
        tracing.processor.force_flush()
        assert exporter.get_finished_spans() == ()
        await asyncio.sleep(BUILD_SECONDS + 0.2)
        tracing.processor.force_flush()
        assert len(exporter.get_finished_spans()) == 3
        # However many are sampled within a second, no more than MAX_WAITING_REQUESTS wait.
        for _ in range(MAX_WAITING_REQUESTS + 1):
            record()
        tracing.processor.force_flush()
        assert len(exporter.get_finished_spans()) == 3 + MAX_WAITING_REQUESTS

    asyncio.run(scenario())
    tracing.shutdown()
    assert len(exporter.get_finished_spans()) == 3 + MAX_WAITING_REQUESTS + 1

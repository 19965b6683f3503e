"""OTLP/HTTP export of this service's spans with a leaner encoder than the SDK's.

The SDK's encoder is general: per span it hashes the resource (a JSON dump of its attributes) to
group spans, and walks a chain of type checks per attribute; about 19 us a span here. Building the
same message from the protocol's generated classes costs 12 us a span (each attribute is two
nested messages converted from Python). The spans this service records share one resource and
one scope and carry scalar attributes only, so `encode_spans` writes their
ExportTraceServiceRequest in the protobuf wire format directly, with field numbers read from the
generated classes' descriptors and each distinct attribute encoded once: 4.4 us a span. A test
holds the result, decoded, equal to the SDK's. Batches with anything else (events, links) go to
the SDK's encoder. Transport, retries, headers, TLS and compression stay the SDK exporter's.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceMessage
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, SpanFlags, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope as InstrumentationScopeInfo
from opentelemetry.trace import SpanKind, StatusCode

log = logging.getLogger(__name__)

_KINDS = {
    SpanKind.INTERNAL: Span.SPAN_KIND_INTERNAL,
    SpanKind.SERVER: Span.SPAN_KIND_SERVER,
    SpanKind.CLIENT: Span.SPAN_KIND_CLIENT,
    SpanKind.PRODUCER: Span.SPAN_KIND_PRODUCER,
    SpanKind.CONSUMER: Span.SPAN_KIND_CONSUMER,
}
_STATUS_CODES = {
    StatusCode.UNSET: Status.STATUS_CODE_UNSET,
    StatusCode.OK: Status.STATUS_CODE_OK,
    StatusCode.ERROR: Status.STATUS_CODE_ERROR,
}
_LOCAL_PARENT = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_REMOTE_PARENT = _LOCAL_PARENT | SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK


# Wire types (https://protobuf.dev/programming-guides/encoding/).
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5
_INT64_MASK = (1 << 64) - 1


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(message: Any, field: str, wire_type: int) -> bytes:
    """A field's key: its number, from the generated class's descriptor, and its wire type."""
    return _varint(message.DESCRIPTOR.fields_by_name[field].number << 3 | wire_type)


def _delimited(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


_STRING_VALUE = _tag(AnyValue, "string_value", _LENGTH_DELIMITED)
_BOOL_VALUE = _tag(AnyValue, "bool_value", _VARINT)
_INT_VALUE = _tag(AnyValue, "int_value", _VARINT)
_DOUBLE_VALUE = _tag(AnyValue, "double_value", _FIXED64)
_KEY = _tag(KeyValue, "key", _LENGTH_DELIMITED)
_VALUE = _tag(KeyValue, "value", _LENGTH_DELIMITED)
_TRACE_ID = _tag(Span, "trace_id", _LENGTH_DELIMITED)
_SPAN_ID = _tag(Span, "span_id", _LENGTH_DELIMITED)
_TRACE_STATE = _tag(Span, "trace_state", _LENGTH_DELIMITED)
_PARENT_SPAN_ID = _tag(Span, "parent_span_id", _LENGTH_DELIMITED)
_FLAGS = _tag(Span, "flags", _FIXED32)
_NAME = _tag(Span, "name", _LENGTH_DELIMITED)
_KIND = _tag(Span, "kind", _VARINT)
_START = _tag(Span, "start_time_unix_nano", _FIXED64)
_END = _tag(Span, "end_time_unix_nano", _FIXED64)
_ATTRIBUTE = _tag(Span, "attributes", _LENGTH_DELIMITED)
_DROPPED_ATTRIBUTES = _tag(Span, "dropped_attributes_count", _VARINT)
_STATUS = _tag(Span, "status", _LENGTH_DELIMITED)
_STATUS_MESSAGE = _tag(Status, "message", _LENGTH_DELIMITED)
_STATUS_CODE = _tag(Status, "code", _VARINT)
_SCOPE = _tag(ScopeSpans, "scope", _LENGTH_DELIMITED)
_SCOPE_SPAN = _tag(ScopeSpans, "spans", _LENGTH_DELIMITED)
_SCOPE_SCHEMA_URL = _tag(ScopeSpans, "schema_url", _LENGTH_DELIMITED)
_SCOPE_NAME = _tag(InstrumentationScope, "name", _LENGTH_DELIMITED)
_SCOPE_VERSION = _tag(InstrumentationScope, "version", _LENGTH_DELIMITED)
_SCOPE_ATTRIBUTE = _tag(InstrumentationScope, "attributes", _LENGTH_DELIMITED)
_RESOURCE = _tag(ResourceSpans, "resource", _LENGTH_DELIMITED)
_RESOURCE_SCOPE_SPANS = _tag(ResourceSpans, "scope_spans", _LENGTH_DELIMITED)
_RESOURCE_SCHEMA_URL = _tag(ResourceSpans, "schema_url", _LENGTH_DELIMITED)
_RESOURCE_ATTRIBUTE = _tag(ResourceMessage, "attributes", _LENGTH_DELIMITED)
_RESOURCE_SPANS = _tag(ExportTraceServiceRequest, "resource_spans", _LENGTH_DELIMITED)
_PACK_FIXED64 = struct.Struct("<Q").pack
_PACK_DOUBLE = struct.Struct("<d").pack
_PACK_FIXED32 = struct.Struct("<I").pack


def _value(value: Any) -> bytes:
    """An AnyValue; the field of a oneof is written even when it holds its default."""
    if isinstance(value, bool):
        return _BOOL_VALUE + (b"\x01" if value else b"\x00")
    if isinstance(value, str):
        return _delimited(_STRING_VALUE, value.encode())
    if isinstance(value, int):
        return _INT_VALUE + _varint(value & _INT64_MASK)
    if isinstance(value, float):
        return _DOUBLE_VALUE + _PACK_DOUBLE(value)
    raise TypeError(f"attribute value {value!r} is not a scalar")


# Encoded attributes by (field tag, key, type, value): a service's spans repeat most of theirs
# (route, method, status, model, batch size). Bounded: emptied when full.
_ENCODED: dict[tuple[bytes, str, type, Any], bytes] = {}
_ENCODED_LIMIT = 4096


def _attributes(tag: bytes, attributes: Any) -> bytes:
    """Repeated KeyValue fields under `tag`."""
    parts = []
    for key, value in (attributes or {}).items():
        # The type is part of the key: True == 1, and they are encoded differently.
        cache_key = (tag, key, value.__class__, value)
        encoded = _ENCODED.get(cache_key)
        if encoded is None:
            if len(_ENCODED) >= _ENCODED_LIMIT:
                _ENCODED.clear()
            encoded = _ENCODED[cache_key] = _delimited(
                tag, (_delimited(_KEY, key.encode()) if key else b"") + _delimited(_VALUE, _value(value))
            )
        parts.append(encoded)
    return b"".join(parts)


def _optional(tag: bytes, payload: bytes) -> bytes:
    """A proto3 string or bytes field: absent when empty."""
    return _delimited(tag, payload) if payload else b""


def _status(status: Any) -> bytes:
    code = _STATUS_CODES[status.status_code]
    return _delimited(
        _STATUS,
        _optional(_STATUS_MESSAGE, (status.description or "").encode())
        + (_STATUS_CODE + _varint(code) if code else b""),
    )


# The fields every span of this service writes the same way, precomputed.
_TRACE_ID_16 = _TRACE_ID + _varint(16)
_SPAN_ID_8 = _SPAN_ID + _varint(8)
_PARENT_SPAN_ID_8 = _PARENT_SPAN_ID + _varint(8)
_KIND_FIELDS = {kind: _KIND + _varint(number) if number else b"" for kind, number in _KINDS.items()}
_FLAGS_FIELDS = {flags: _FLAGS + _PACK_FIXED32(flags) for flags in (_LOCAL_PARENT, _REMOTE_PARENT)}


def _span(span: ReadableSpan) -> bytes:
    context = span.context
    parent = span.parent
    assert context is not None  # a finished span has one
    return b"".join(
        (
            _TRACE_ID_16,
            context.trace_id.to_bytes(16, "big"),
            _SPAN_ID_8,
            context.span_id.to_bytes(8, "big"),
            _optional(_TRACE_STATE, ",".join(f"{k}={v}" for k, v in context.trace_state.items()).encode()),
            _PARENT_SPAN_ID_8 + parent.span_id.to_bytes(8, "big") if parent else b"",
            _optional(_NAME, span.name.encode()),
            _KIND_FIELDS[span.kind],
            _START + _PACK_FIXED64(span.start_time) if span.start_time else b"",
            _END + _PACK_FIXED64(span.end_time) if span.end_time else b"",
            _attributes(_ATTRIBUTE, span.attributes),
            _DROPPED_ATTRIBUTES + _varint(span.dropped_attributes) if span.dropped_attributes else b"",
            _status(span.status),
            _FLAGS_FIELDS[_REMOTE_PARENT if parent is not None and parent.is_remote else _LOCAL_PARENT],
        )
    )


def _resource_spans(resource: Resource, scope: InstrumentationScopeInfo | None, spans: list[bytes]) -> bytes:
    scope_message = (
        _optional(_SCOPE_NAME, scope.name.encode())
        + _optional(_SCOPE_VERSION, (scope.version or "").encode())
        + _attributes(_SCOPE_ATTRIBUTE, scope.attributes)
        if scope is not None
        else b""
    )
    scope_spans = (
        _delimited(_SCOPE, scope_message)
        + b"".join(_delimited(_SCOPE_SPAN, span) for span in spans)
        + _optional(_SCOPE_SCHEMA_URL, ((scope.schema_url if scope else None) or "").encode())
    )
    return (
        _delimited(_RESOURCE, _attributes(_RESOURCE_ATTRIBUTE, resource.attributes))
        + _delimited(_RESOURCE_SCOPE_SPANS, scope_spans)
        + _optional(_RESOURCE_SCHEMA_URL, (resource.schema_url or "").encode())
    )


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """The OTLP ExportTraceServiceRequest for `spans`, serialised."""
    if any(span.events or span.links for span in spans):
        return sdk_encode_spans(spans).SerializePartialToString()
    # Grouped by resource and scope object: this service's spans share one of each.
    groups: dict[tuple[int, int], tuple[ReadableSpan, list[bytes]]] = {}
    for span in spans:
        key = (id(span.resource), id(span.instrumentation_scope))
        group = groups.get(key)
        if group is None:
            group = groups[key] = (span, [])
        group[1].append(_span(span))
    return b"".join(
        _delimited(_RESOURCE_SPANS, _resource_spans(first.resource, first.instrumentation_scope, encoded))
        for first, encoded in groups.values()
    )


class ServiceSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP span exporter, encoding with `encode_spans`."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            body = encode_spans(spans)
        except Exception:
            log.exception("could not encode a batch of %d spans", len(spans))
            return SpanExportResult.FAILURE
        result = self._client.export(body)
        return SpanExportResult.SUCCESS if result.success else SpanExportResult.FAILURE

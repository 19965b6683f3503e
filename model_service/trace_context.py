"""W3C Trace Context: reading and writing `traceparent`, with the standard library only (the
Lambda proxy ships this module without the OpenTelemetry SDK; model_service.tracing builds on it)."""

from __future__ import annotations

import random
import re

# Version 00, lower-case hex; ids that are all zeros are invalid (checked after the match).
TRACEPARENT = re.compile(rb"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
# A traceparent handed over in SageMaker's CustomAttributes (SageMaker passes no other header).
CUSTOM_ATTRIBUTE = re.compile(rb"(?:^|[;,]\s*)traceparent=(00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})")
SAMPLED = 0x01


def parse_traceparent(value: bytes) -> tuple[int, int, bool] | None:
    """(trace id, parent span id, sampled) of a valid traceparent header, else None (a malformed
    header starts a new trace, as the W3C recommendation says)."""
    match = TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, bool(int(match[3], 16) & SAMPLED)


def traceparent_in_custom_attributes(value: bytes) -> bytes | None:
    """The traceparent inside SageMaker's X-Amzn-SageMaker-Custom-Attributes, if there is one."""
    match = CUSTOM_ATTRIBUTE.search(value)
    return match[1] if match else None


def format_traceparent(trace_id: int, span_id: int, sampled: bool) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


def new_trace_id() -> int:
    return random.getrandbits(128) or 1


def new_span_id() -> int:
    return random.getrandbits(64) or 1

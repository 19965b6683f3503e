"""Logs: one JSON object a line on stdout.

Application events go through `logging` with `JsonFormatter`. The access log, one line a request,
is the hot path: `AccessLog` queues entries and serialises and writes them in bulk every 50 ms, so
logging costs no syscall per request and delays a line by 50 ms at most.
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import IO, Any

import orjson

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


_second_cache: list[Any] = [-1, ""]


def utc_second(whole: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS` of a Unix second, formatted once a second (every log line asks)."""
    if whole != _second_cache[0]:
        _second_cache[:] = [whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")]
    return str(_second_cache[1])


def rfc3339(seconds: float) -> str:
    """RFC 3339 UTC with milliseconds."""
    whole = int(seconds)
    return f"{utc_second(whole)}.{int((seconds - whole) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in record.__dict__.items() if key not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str, stream: IO[str] | None = None) -> dict[str, Any]:
    """Route every logger (uvicorn's too) through one JSON handler; returns the dictConfig used."""
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": stream or sys.stdout}},
        "root": {"handlers": ["stdout"], "level": level.upper()},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level.upper()}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
    logging.config.dictConfig(config)
    return config


# Methods httptools parses (it refuses any other): safe in a JSON string as they are.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})
# One access-log line. Every %s placeholder takes a value whose alphabet needs no JSON escaping
# (validated request ids, route templates, parsed methods, ids as hex) or is already JSON
# (method, model_version): a printf template is cheaper per line than building and serialising a
# dict, and the access log is written for every request. One template per shape of line, so a
# line is formatted in one operation.
_HEAD = (
    '{"timestamp":"%s.%03dZ","level":"info","message":"request","request_id":"%s","method":%s,'
    '"route":"%s","status":%d,"latency_ms":%.3f,"model_version":%s'
)
_TRACE = ',"trace_id":"%032x","span_id":"%016x","trace_sampled":%s}'
_LINES = {
    # (has rows, has a trace) -> template
    (False, False): _HEAD + "}",
    (True, False): _HEAD + ',"rows":%d}',
    (False, True): _HEAD + _TRACE,
    (True, True): _HEAD + ',"rows":%d' + _TRACE,
}
_JSON_BOOL = ("false", "true")
_METHODS_JSON = {method: f'"{method}"' for method in HTTP_METHODS}


# What one access-log line says, queued as a plain tuple (a tenth of a dataclass's cost to make)
# and formatted when the log is flushed:
# (time.time(), request id, method, route template, status, seconds, model version as JSON,
#  rows, feature values or None, trace id, span id, trace sampled)
AccessEntry = tuple[float, str, str, str, int, float, str, int, "list[float] | None", int, int, bool]


class AccessLog:
    """One JSON line a request, written in bulk every `flush_seconds` (and at shutdown)."""

    def __init__(self, stream: IO[str] | None = None, enabled: bool = True, flush_seconds: float = 0.05) -> None:
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.flush_seconds = flush_seconds
        self._pending: list[AccessEntry] = []

    def write(self, entry: AccessEntry) -> None:
        """Queue one line."""
        if not self.enabled:
            return
        if not self._pending:
            asyncio.get_running_loop().call_later(self.flush_seconds, self.flush)
        self._pending.append(entry)

    def format(self, entry: AccessEntry) -> str:
        at, request_id, method, route, status, seconds, version_json, rows, features, trace_id, span_id, sampled = entry
        second, fraction = divmod(int(at * 1000), 1000)
        method_json = _METHODS_JSON.get(method) or orjson.dumps(method).decode()
        values: tuple[Any, ...] = (
            utc_second(second),
            fraction,
            request_id,
            method_json,
            route,
            status,
            seconds * 1000,
            version_json,
        )
        if rows:
            values += (rows,)
        if trace_id:
            values += (trace_id, span_id, _JSON_BOOL[sampled])
        line = _LINES[bool(rows), bool(trace_id)] % values
        if features is not None:  # LOG_FEATURES: rare, and any float is JSON through orjson
            line = line[:-1] + ',"features":' + orjson.dumps(features).decode() + "}"
        return line

    def flush(self) -> None:
        if not self._pending:
            return
        entries, self._pending = self._pending, []
        text = "\n".join([self.format(entry) for entry in entries]) + "\n"
        try:
            buffer = getattr(self.stream, "buffer", None)
            if buffer is not None:
                self.stream.flush()
                buffer.write(text.encode())
                buffer.flush()
            else:
                self.stream.write(text)
                self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed stdout must not take requests down with it

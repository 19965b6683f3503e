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
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from itertools import chain, groupby, repeat
from operator import mul
from typing import IO, TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from model_service.request import Request

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


class _MethodJson(dict[str, str]):
    """Method -> JSON string. httptools parses a few dozen methods (WebDAV's too); the usual ones
    are here from the start, any other is encoded the first time it is seen."""

    def __missing__(self, method: str) -> str:
        self[method] = encoded = orjson.dumps(method).decode()
        return encoded


_METHOD_JSON = _MethodJson({method: f'"{method}"' for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS")})
_JSON = ("false", "true")  # a bool as JSON
_MILLISECONDS = [f"{n:03d}" for n in range(1000)]


class _IntText(dict[int, str]):
    """Small non-negative integers (statuses, row counts) as text, made once; others each time."""

    def __missing__(self, number: int) -> str:
        return str(number)


_INT_TEXT = _IntText((number, str(number)) for number in range(1024))
# One access-log line, a template per shape. Every %s takes a value whose alphabet needs no JSON
# escaping (validated request ids, route templates, numbers, trace ids as hex) or that is already
# JSON (method, model_version, features).
_HEAD = (
    '{"timestamp":"%sZ","level":"info","message":"request","request_id":"%s","method":%s,'
    '"route":"%s","status":%s,"latency_ms":%s,"model_version":%s'
)
_ROWS = ',"rows":%s'
_TRACE = ',"trace_id":"%s","span_id":"%s","trace_sampled":%s'
_FEATURES = ',"features":%s'
# A queued line is a tuple of its template's values, in order: (time.time(), request id, method,
# route template, status, seconds, model version as JSON[, rows][, trace id, span id, sampled as
# JSON][, features as JSON]). Each shape of line has its own length, which picks its template; a
# template is kept as the text between its values.
_TEMPLATES = {
    7: _HEAD,
    8: _HEAD + _ROWS,
    9: _HEAD + _ROWS + _FEATURES,
    10: _HEAD + _TRACE,
    11: _HEAD + _ROWS + _TRACE,
    12: _HEAD + _ROWS + _TRACE + _FEATURES,
}
_PIECES = {length: tuple((template + "}\n").split("%s")) for length, template in _TEMPLATES.items()}


def _value_at(part: str) -> dict[int, int]:
    """For each shape that has `part`, the position of its first value among the line's values."""
    return {length: t[: t.index(part)].count("%s") for length, t in _TEMPLATES.items() if part in t}


_ROWS_AT = _value_at(_ROWS)
_TRACE_AT = _value_at(_TRACE)  # the trace id; the span id and sampled follow


def _foldable(length: int) -> dict[int, Callable[[Any], str]]:
    """The values of a line of this shape that seldom change from one request to the next, by
    position, with how to write one: method, route, status, model version and, where the shape has
    them, rows and whether the trace was sampled."""
    foldable: dict[int, Callable[[Any], str]] = {2: _METHOD_JSON.__getitem__, 3: str, 4: _INT_TEXT.__getitem__, 6: str}
    if length in _ROWS_AT:
        foldable[_ROWS_AT[length]] = _INT_TEXT.__getitem__
    if length in _TRACE_AT:
        foldable[_TRACE_AT[length] + 2] = str
    return foldable


_FOLDABLE = {length: _foldable(length) for length in _TEMPLATES}
_VARIES = object()
_RUN_TEMPLATES: dict[tuple[int, tuple[Any, ...]], tuple[tuple[str, ...], tuple[int, ...]]] = {}
_MAX_RUN_TEMPLATES = 1024


def _run_template(length: int, same: tuple[Any, ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The template of a run of lines of this shape whose foldable values are `same` (`_VARIES`
    for one that differs between lines), with those values written in: the text between the
    values that remain, and their positions. Made once a combination (the cache is emptied when
    full)."""
    made = _RUN_TEMPLATES.get((length, same))
    if made is None:
        if len(_RUN_TEMPLATES) >= _MAX_RUN_TEMPLATES:
            _RUN_TEMPLATES.clear()
        foldable = _FOLDABLE[length]
        folded = {
            position: foldable[position](value)
            for position, value in zip(foldable, same, strict=True)
            if value is not _VARIES
        }
        pieces = _PIECES[length]
        texts, kept = [pieces[0]], []
        for position, piece in enumerate(pieces[1:]):
            if position in folded:
                texts[-1] += folded[position] + piece
            else:
                texts.append(piece)
                kept.append(position)
        made = _RUN_TEMPLATES[length, same] = (tuple(texts), tuple(kept))
    return made


def render(entries: list[tuple[Any, ...]]) -> str:
    """The lines of queued entries, in order.

    A run of same-shaped lines is turned into columns, each column into text by `map` (the
    timestamps and small numbers through tables, the latencies by one `%` for the run), and the
    columns interleaved with the template's text by `zip` and `chain` into one `join`: every
    per-line step runs in C. A value that is the same on every line of the run (method, route,
    status, model version, rows, sampled: as a rule) is written into the run's template instead.
    Measured in instructions a line (callgrind, a flush of 850 lines like the benchmark's),
    untraced and traced: one `%` over the template repeated 12.7k and 16.7k, a column for every
    value 10.5k and 13.6k, this 7.1k and 10.4k. A run costs about 70k on top, whatever its length:
    shapes that alternate line by line would cost more than they do here.
    """
    parts = []
    for length, group in groupby(entries, len):
        run = list(group)
        values = list(zip(*run, strict=True))
        # `count` compares by identity first: a few instructions a line for each value checked.
        same = tuple(
            column[0] if column.count(column[0]) == len(run) else _VARIES
            for column in map(values.__getitem__, _FOLDABLE[length])
        )
        pieces, kept = _run_template(length, same)
        milliseconds = list(map(int, map(mul, values[0], repeat(1000))))
        # A flush spans about 50 distinct milliseconds: each is written once, in order (the second
        # is formatted once a second).
        stamps = {ms: f"{utc_second(ms // 1000)}.{_MILLISECONDS[ms % 1000]}" for ms in sorted(set(milliseconds))}
        # Lazy where it can be: a value written into the template is never turned into text.
        columns: list[Iterable[str]] = [
            map(stamps.__getitem__, milliseconds),
            *values[1:5],
            ("\n".join(repeat("%.3f", len(run))) % tuple(map(mul, values[5], repeat(1000)))).split("\n"),
            *values[6:],
        ]
        for position, to_text in _FOLDABLE[length].items():
            if to_text is not str:  # the others are text already
                columns[position] = map(to_text, values[position])
        if length in _TRACE_AT:
            # The ids as hex: through bytes, two C calls an id (a `%` an id costs several times that).
            trace_at = _TRACE_AT[length]
            columns[trace_at] = map(bytes.hex, map(int.to_bytes, values[trace_at], repeat(16)))
            columns[trace_at + 1] = map(bytes.hex, map(int.to_bytes, values[trace_at + 1], repeat(8)))
        # The template's text and the columns in turn: text, value, text, ..., value, text.
        streams: list[Iterable[str]] = [repeat(pieces[0])]
        for position, piece in zip(kept, pieces[1:], strict=True):
            streams += (columns[position], repeat(piece))
        # Not strict: the text streams repeat without end; the columns end together.
        parts.append("".join(chain.from_iterable(zip(*streams, strict=False))))
    return "".join(parts)


class AccessLog:
    """One JSON line a request, written in bulk every `flush_seconds` (and at shutdown)."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        enabled: bool = True,
        flush_seconds: float = 0.05,
        *,
        log_features: bool = False,
    ) -> None:
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.flush_seconds = flush_seconds
        # LOG_FEATURES: a prediction's line carries its input rows.
        self.log_features = log_features
        # The served model's version as a JSON value (null until one is loaded).
        self.version_json = "null"
        self._pending: list[tuple[Any, ...]] = []

    def request(self, request: Request, method: str, route: str, status: int, seconds: float) -> None:
        """Queue a request's line. The request pays for one tuple of what the line says; the
        line is formatted with the others when the log is flushed."""
        if not self.enabled:
            return
        at, rid, version, rows, t = time.time(), request.request_id, self.version_json, request.rows, request.trace
        # Each shape written out whole: adding to a tuple makes a new one a step (1k instructions).
        entry: tuple[Any, ...]
        if t is None and not rows:
            entry = (at, rid, method, route, status, seconds, version)
        elif t is None:
            entry = (at, rid, method, route, status, seconds, version, rows)
        elif rows:
            entry = (at, rid, method, route, status, seconds, version, rows, t.trace_id, t.span_id, _JSON[t.sampled])
        else:
            entry = (at, rid, method, route, status, seconds, version, t.trace_id, t.span_id, _JSON[t.sampled])
        if rows and self.log_features and request.values is not None:  # rare; any float is JSON via orjson
            entry += (orjson.dumps(request.values).decode(),)
        if not self._pending:
            asyncio.get_running_loop().call_later(self.flush_seconds, self.flush)
        self._pending.append(entry)

    def flush(self) -> None:
        if not self._pending:
            return
        entries, self._pending = self._pending, []
        text = render(entries)
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

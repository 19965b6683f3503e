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
from datetime import UTC, datetime
from typing import IO, Any

import orjson

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


_second_cache: list[Any] = [-1, ""]


def rfc3339(seconds: float) -> str:
    """RFC 3339 UTC with milliseconds; the part up to the second is formatted once a second."""
    whole = int(seconds)
    if whole != _second_cache[0]:
        _second_cache[:] = [whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")]
    return f"{_second_cache[1]}.{int((seconds - whole) * 1000):03d}Z"


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


class AccessLog:
    """One JSON line a request, written in bulk every `flush_seconds` (and at shutdown)."""

    def __init__(self, stream: IO[str] | None = None, enabled: bool = True, flush_seconds: float = 0.05) -> None:
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.flush_seconds = flush_seconds
        self._pending: list[dict[str, Any]] = []

    def write(self, entry: dict[str, Any]) -> None:
        """Queue one line; it gets the timestamp of the moment it is queued (ms resolution)."""
        if not self.enabled:
            return
        if not self._pending:
            asyncio.get_running_loop().call_later(self.flush_seconds, self.flush)
        entry["timestamp"] = time.time()
        self._pending.append(entry)

    def flush(self) -> None:
        if not self._pending:
            return
        entries, self._pending = self._pending, []
        lines = []
        for entry in entries:
            entry["timestamp"] = rfc3339(entry["timestamp"])
            lines.append(orjson.dumps(entry))
        lines.append(b"")
        try:
            buffer = getattr(self.stream, "buffer", None)
            if buffer is not None:
                self.stream.flush()
                buffer.write(b"\n".join(lines))
                buffer.flush()
            else:
                self.stream.write(b"\n".join(lines).decode())
                self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed stdout must not take requests down with it

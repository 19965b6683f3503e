"""Logs: one JSON object a line on stdout.

Application events go through `logging` with `JsonFormatter`. The access log, one line a request,
is the hot path: `AccessLog` serialises with orjson and writes the lines gathered during one event
loop iteration with a single write, so logging costs no syscall per request and delays nothing.
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


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
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
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": stream or sys.stdout}},
        "root": {"handlers": ["stdout"], "level": level.upper()},
        "loggers": {name: {"handlers": [], "propagate": True, "level": level.upper()}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
    logging.config.dictConfig(config)
    return config


class AccessLog:
    """One JSON line a request, flushed once per event-loop iteration."""

    def __init__(self, stream: IO[str] | None = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self._pending: list[bytes] = []

    def write(self, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        entry["timestamp"] = _timestamp(time.time())
        if not self._pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self._pending.append(orjson.dumps(entry))

    def flush(self) -> None:
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        try:
            self.stream.write(b"\n".join(lines).decode() + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed stdout must not take requests down with it


"""What a request can end in besides success, and the HTTP answer for each (as KServe's errors
module maps its exceptions): one place decides status, body and whether it is the client's fault."""

from __future__ import annotations

from typing import Any

import orjson

from model_service.rows import InputError

JSON = b"application/json"
# nginx's "client closed request": nothing is sent, but the request is still counted.
CLIENT_CLOSED = 499

__all__ = [
    "CLIENT_CLOSED",
    "JSON",
    "ClientDisconnectedError",
    "InputError",
    "answer_for",
    "error_response",
    "method_not_allowed",
]


class ClientDisconnectedError(Exception):
    """The client went away before sending its whole body."""


def error_response(status: int, message: str, **extra: Any) -> tuple[int, bytes, bytes]:
    return status, orjson.dumps({"error": message, **extra}), JSON


def method_not_allowed(method: str, allowed: str) -> tuple[int, bytes, bytes]:
    return error_response(405, f"{method} is not allowed here; use {allowed}")


def answer_for(error: Exception, request_id: str) -> tuple[int, bytes, bytes]:
    """The answer for an exception a handler raised: its own status for bad input and states the
    client can act on, 499 for a client that left, 500 (with the request id to find the log) for
    anything else."""
    if isinstance(error, InputError):
        return error_response(error.status, error.message, reason=error.reason)
    if isinstance(error, ClientDisconnectedError):
        return CLIENT_CLOSED, b"", JSON
    return error_response(500, "internal error; the request id is in the logs", request_id=request_id)

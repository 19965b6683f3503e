"""What handlers need of one request: its body (size- and time-limited), media type, ids and
credential, and the headers its response should carry besides the usual ones."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from model_service.errors import JSON, ClientDisconnectedError, InputError

if TYPE_CHECKING:
    from model_service.tracing import RequestTrace

Receive = Callable[[], Awaitable[dict[str, Any]]]

# Set in the request's ASGI scope by the connection (server.LimitedHttpToolsProtocol) when the
# body did not arrive within BODY_TIMEOUT_SECONDS; the deadline costs nothing when it did.
BODY_TIMED_OUT = "model_service.body_timed_out"

# Client-chosen request ids go into logs and a response header: a safe, bounded alphabet only.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~-]{0,127}")
REQUEST_ID_RULE = "1 to 128 characters from A-Z a-z 0-9 . _ : ~ -, starting with a letter or digit"


class Request:
    __slots__ = (
        "_receive",
        "_scope",
        "authorization",
        "binary_header_length",
        "body_timeout",
        "content_length",
        "content_type",
        "max_body_bytes",
        "refusal",
        "request_id",
        "response_headers",
        "rows",
        "trace",
        "values",
    )

    def __init__(
        self,
        receive: Receive,
        request_id: str,
        content_type: bytes,
        content_length: int,
        max_body_bytes: int,
        *,
        scope: dict[str, Any] | None = None,
        body_timeout: float = 30.0,
    ) -> None:
        self._receive = receive
        self._scope = scope if scope is not None else {}
        self.request_id = request_id
        self.content_type = content_type
        self.content_length = content_length
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.authorization = b""
        # Open Inference Protocol binary tensor extension: length of the JSON part of the body.
        self.binary_header_length: bytes | None = None
        self.response_headers: list[tuple[bytes, bytes]] = []
        # Set when the request's headers already make it a bad request (e.g. an unsafe id).
        self.refusal: InputError | None = None
        # What the access log reports of a prediction request.
        self.rows = 0
        self.values: list[float] | None = None
        # Set when the server traces requests (model_service.tracing).
        self.trace: RequestTrace | None = None

    def header(self, name: bytes) -> bytes | None:
        """A request header by its lower-case name (for the rare route that needs one not read
        up front)."""
        for key, value in self._scope.get("headers", ()):
            if key == name:
                return bytes(value)
        return None

    def media_type(self) -> bytes:
        return self.content_type.split(b";", 1)[0].strip().lower()

    def require_json(self, also: bytes | None = None) -> None:
        """JSON (or the media type `also`), or no content type at all (Open Inference Protocol
        clients such as tritonclient send none; KServe and Triton read such bodies as JSON)."""
        media = self.media_type()
        if media != JSON and media and media != also:
            shown = media.decode("latin-1")
            raise InputError(415, "content_type", f"content type {shown!r} is not supported; send application/json")

    async def body(self) -> bytes:
        limit = self.max_body_bytes
        if self.content_length > limit:
            raise InputError(
                413,
                "body_too_large",
                f"body of {self.content_length} bytes exceeds the limit of {limit} (MAX_BODY_BYTES)",
            )
        chunks = []
        size = 0
        while True:
            message = await self._receive()
            if BODY_TIMED_OUT in self._scope:
                raise InputError(
                    408,
                    "body_timeout",
                    f"the request body did not arrive within {self.body_timeout} s (BODY_TIMEOUT_SECONDS)",
                )
            if message["type"] == "http.disconnect":
                raise ClientDisconnectedError()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise InputError(413, "body_too_large", f"body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

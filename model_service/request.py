"""What handlers need of one request: its body (size-limited), media type and id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from model_service.errors import JSON, ClientDisconnectedError, InputError

Receive = Callable[[], Awaitable[dict[str, Any]]]


class Request:
    __slots__ = ("_receive", "content_length", "content_type", "max_body_bytes", "request_id", "rows", "values")

    def __init__(
        self, receive: Receive, request_id: str, content_type: bytes, content_length: int, max_body_bytes: int
    ) -> None:
        self._receive = receive
        self.request_id = request_id
        self.content_type = content_type
        self.content_length = content_length
        self.max_body_bytes = max_body_bytes
        # What the access log reports of a prediction request.
        self.rows = 0
        self.values: list[float] | None = None

    def media_type(self) -> bytes:
        return self.content_type.split(b";", 1)[0].strip().lower()

    def require_json(self) -> None:
        media = self.media_type()
        if media != JSON:
            shown = media.decode("latin-1") or "none"
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
            if message["type"] == "http.disconnect":
                raise ClientDisconnectedError()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise InputError(413, "body_too_large", f"body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

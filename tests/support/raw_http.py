"""Raw HTTP/1.1 over a socket, for requests no well-behaved client library would send."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def reason(self) -> str | None:
        try:
            document = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None
        return document.get("reason") if isinstance(document, dict) else None


@dataclass(frozen=True)
class Exchange:
    responses: list[RawResponse]
    closed: bool  # the server closed the connection (rather than the read timing out)
    seconds: float


def request(method: str, path: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A well-formed request that asks the server to close the connection after answering."""
    lines = [f"{method} {path} HTTP/1.1", "Host: test", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(port: int, parts: Sequence[bytes | float], read_timeout: float = 8.0) -> Exchange:
    """Send `parts` (bytes are sent, numbers are pauses in seconds), then read every response
    until the server closes the connection or `read_timeout` passes without a byte."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        for part in parts:
            if isinstance(part, bytes):
                try:
                    sock.sendall(part)
                except (BrokenPipeError, ConnectionResetError):
                    break  # the server refused and closed while we were still sending
            else:
                time.sleep(part)
        received = b""
        closed = False
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
    return Exchange(parse_responses(received), closed, time.monotonic() - started)


def parse_responses(data: bytes) -> list[RawResponse]:
    responses = []
    while b"\r\n\r\n" in data:
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        responses.append(RawResponse(status, headers, data[:length]))
        data = data[length:]
    return responses

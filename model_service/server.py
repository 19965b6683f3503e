"""How the service runs under uvicorn; the benchmark runs its baselines through the same function,
so that "the same server stack" means the same settings to the letter.

uvicorn with httptools is the fastest server measured here (bench/), but it bounds neither the
request head nor the time a client may take to send it: a 128 MB header was read whole, and
connections sending one byte at a time were held forever. `LimitedHttpToolsProtocol` adds those
limits where the bytes arrive (the connection), and `DrainingServer` turns SIGTERM into a drain
(readiness 503 while still serving, then a graceful stop, exit status 0).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, ClassVar

import httptools
import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from model_service.logs import configure_logging
from model_service.request import BODY_TIMED_OUT
from model_service.settings import Settings

log = logging.getLogger("model_service")

# (status, reason) of a request refused before it reached the application, for its metrics.
OnRefused = Callable[[int, str], None]

REASON_PHRASES = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


class HeadRefusedError(Exception):
    """Raised from a parser callback: the request head breaks a limit."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a bounded request head (bytes and header count),
    deadlines for the head and the body, and a connection limit. Refusals get a JSON answer,
    close the connection, and are reported to `on_refused` so that they are counted like any
    request.

    The request path pays a few attribute updates, no timers: a sweep every SWEEP_SECONDS (one per
    server) finds connections whose head or body is overdue.
    """

    limits: ClassVar[Settings]
    on_refused: ClassVar[OnRefused]
    _sweeping: ClassVar[bool] = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._in_head = True
        # loop.time() when the current head (or an incomplete body) started; 0: not waiting.
        self._head_started = self.loop.time()
        self._body_started = 0.0
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, "overloaded", f"more than {self.limits.max_connections} connections (MAX_CONNECTIONS)")
            return
        if not type(self)._sweeping:
            type(self)._sweeping = True
            self.loop.call_later(SWEEP_SECONDS, _sweep, self.loop, self.connections)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._in_head:
            if not self._head_started:
                self._head_started = self.loop.time()
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            refused = error.__context__
            if isinstance(refused, HeadRefusedError):
                self._refuse(refused.status, refused.reason, refused.message)
            else:
                self._refuse(400, "malformed_http", f"invalid HTTP request: {refused or error}")
            return
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as error:
            self._refuse(400, "malformed_http", f"invalid HTTP request: {error}")
            return
        if self._in_head:
            # Still inside a head after more than the limit: refuse before buffering more of it
            # (the parser keeps a partial header in memory until it is complete).
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse_large_head()
        elif not self._body_started:
            self._body_started = self.loop.time()  # the body is still arriving: its deadline runs

    def on_headers_complete(self) -> None:
        limits = self.limits
        if len(self.headers) > limits.max_headers:
            raise HeadRefusedError(
                431, "too_many_headers", f"more than {limits.max_headers} header fields (MAX_HEADERS)"
            )
        # The bytes counted may include a body that came with the head: measure the head itself.
        if self._head_bytes > limits.max_header_bytes and (
            len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers) > limits.max_header_bytes
        ):
            raise HeadRefusedError(
                431, "header_too_large", f"the request head exceeds {limits.max_header_bytes} bytes (MAX_HEADER_BYTES)"
            )
        self._in_head = False
        self._head_bytes = 0
        self._head_started = 0.0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._body_started = 0.0

    # -- deadlines (called by the sweep) ----------------------------------------------------

    def check_deadlines(self, now: float) -> None:
        limits = self.limits
        if self.transport.is_closing():
            return
        if self._in_head and self._head_started and now - self._head_started > limits.header_timeout_seconds:
            self._head_timed_out()
        elif self._body_started and now - self._body_started > limits.body_timeout_seconds:
            self._body_timed_out()

    def _head_timed_out(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            self._head_started = 0.0  # a response is still being computed: the next head may wait
            return
        if self._head_bytes == 0:
            self.transport.close()  # an idle connection sent nothing: no request to answer
            return
        self._refuse(
            408,
            "header_timeout",
            f"the request head did not arrive within {self.limits.header_timeout_seconds} s (HEADER_TIMEOUT_SECONDS)",
        )

    def _body_timed_out(self) -> None:
        """Tell the application (which answers 408 and closes), or close if it already answered."""
        self._body_started = 0.0
        cycle = self.cycle
        if cycle is None:
            return
        if cycle.response_complete:
            self.transport.close()  # answered without the body; the rest never came
            return
        cycle.scope[BODY_TIMED_OUT] = True  # type: ignore[literal-required]
        cycle.message_event.set()

    def _refuse_large_head(self) -> None:
        self._refuse(
            431,
            "header_too_large",
            f"the request head exceeds {self.limits.max_header_bytes} bytes (MAX_HEADER_BYTES)",
        )

    def _refuse(self, status: int, reason: str, message: str) -> None:
        """Answer `status` with a JSON error and close the connection."""
        self._head_started = self._body_started = 0.0
        if self.transport.is_closing():
            return
        body = orjson.dumps({"error": message, "reason": reason})
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, REASON_PHRASES.get(status, b"Error")),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
        ]
        if status == 503:
            head.append(b"retry-after: 1\r\n")
        self.transport.write(b"".join(head) + b"\r\n" + body)
        self.transport.close()
        if self.cycle is None or self.cycle.response_complete:
            type(self).on_refused(status, reason)
        # else: the application is handling this request; it counts its own outcome (the client
        # has gone, as far as it can tell).


SWEEP_SECONDS = 0.25


def _sweep(loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
    """Enforce the head and body deadlines of every open connection, then come back."""
    now = loop.time()
    for connection in list(connections):
        if isinstance(connection, LimitedHttpToolsProtocol):
            connection.check_deadlines(now)
    loop.call_later(SWEEP_SECONDS, _sweep, loop, connections)


def limited_protocol(limits: Settings, on_refused: OnRefused) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for one server, with its limits and refusal callback bound."""
    return type(
        "BoundLimitedHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {"limits": limits, "on_refused": staticmethod(on_refused)},
    )


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM, call `on_drain` (readiness turns 503) and keep serving for
    `drain_seconds`, so that load balancers stop sending before the listener closes; then stop
    gracefully. A drain that ends as planned exits with status 0 (uvicorn would re-raise SIGTERM
    and end with 143, which Kubernetes reports as an error). A second signal stops at once."""

    def __init__(self, config: uvicorn.Config, on_drain: Callable[[], None], drain_seconds: float) -> None:
        super().__init__(config)
        self.on_drain = on_drain
        self.drain_seconds = drain_seconds
        self.drain_started: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.drain_started is not None:
            super().handle_exit(sig, frame)
            return
        self.drain_started = time.monotonic()
        self.on_drain()

    async def on_tick(self, counter: int) -> bool:
        if self.drain_started is not None and time.monotonic() - self.drain_started >= self.drain_seconds:
            self.should_exit = True
        return await super().on_tick(counter)


def uvicorn_config(app: Any, settings: Settings, on_refused: OnRefused | None = None) -> uvicorn.Config:
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard] on Linux
        loop = "asyncio"
    refused = on_refused or getattr(app, "count_refused", None) or (lambda status, reason: None)
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop=loop,
        http=limited_protocol(settings, refused),
        lifespan="on",
        access_log=False,  # the app writes its own JSON access log
        log_config=configure_logging(settings.log_level),
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        # Pods sit behind a Service, not a proxy that sets X-Forwarded-*: nothing to trust.
        proxy_headers=False,
        server_header=False,
    )


def run(app: Any, settings: Settings) -> None:
    """Serve `app` until SIGTERM/SIGINT. SIGTERM drains: readiness 503 for
    SHUTDOWN_DRAIN_SECONDS, then stop accepting and let in-flight requests finish (up to
    GRACEFUL_SHUTDOWN_SECONDS)."""
    # Requests allocate many short-lived objects; collect the young generation less often.
    gc.set_threshold(50_000, 20, 20)
    log.info("starting", extra={"port": settings.port, "model_dir": str(settings.model_dir)})
    on_drain = getattr(app, "start_draining", lambda: None)
    DrainingServer(uvicorn_config(app, settings), on_drain, settings.shutdown_drain_seconds).run()

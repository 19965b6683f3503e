"""The relay's HTTP side: `POST /alerts` (Alertmanager's webhook), `GET /healthz`, and `GET
/metrics` (requests by outcome, Prometheus text). Bodies are bounded and must arrive within the
socket timeout; anything else is a JSON error naming the problem, counted like the rest."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from retrain_relay.relay import MAX_BODY_BYTES, Answer, Relay, RelaySettings

SOCKET_TIMEOUT_SECONDS = 10
# Connections served at once; more get 503 at once (a flood of idle connections ties up nothing).
MAX_CONNECTIONS = 32
OVERLOADED = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"


class BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most `limit` of them."""

    def __init__(self, address: tuple[str, int], handler: Any, relay: Relay, limit: int) -> None:
        super().__init__(address, handler)
        self.relay = relay
        self._slots = threading.BoundedSemaphore(limit)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.relay.count("overloaded")
            with contextlib.suppress(OSError):  # a client already gone needs no answer
                request.sendall(OVERLOADED)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def make_server(
    relay: Relay, host: str, port: int, timeout: float = SOCKET_TIMEOUT_SECONDS, limit: int = MAX_CONNECTIONS
) -> BoundedServer:
    socket_timeout = timeout

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # A slow client is cut off, not waited for.
        timeout = socket_timeout
        server_version = "retrain-relay"
        sys_version = ""

        def _send(self, answer: Answer) -> None:
            body = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _refuse(self, status: int, message: str, outcome: str) -> None:
            relay.count(outcome)
            self.close_connection = True
            self._send(Answer(status, {"error": message}, outcome))

        def do_POST(self) -> None:
            if self.path != "/alerts":
                self._refuse(404, f"no route POST {self.path}", "not_found")
                return
            length = self.headers.get("content-length", "")
            if not length.isdigit():
                self._refuse(411, "send a Content-Length", "bad_request")
                return
            if int(length) > MAX_BODY_BYTES:
                self._refuse(413, f"the body is over {MAX_BODY_BYTES} bytes", "too_large")
                return
            try:
                body = self.rfile.read(int(length))
            except TimeoutError:
                self._refuse(408, "the body did not arrive in time", "timeout")
                return
            self._send(relay.handle(self.headers.get("authorization"), body))

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(Answer(200, {"status": "ok"}, "health"))
            elif self.path == "/metrics":
                lines = [
                    "# HELP retrain_relay_requests_total Webhook requests by outcome.",
                    "# TYPE retrain_relay_requests_total counter",
                ]
                lines += [f'retrain_relay_requests_total{{outcome="{k}"}} {v}' for k, v in sorted(relay.counts.items())]
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("content-type", "text/plain; version=0.0.4")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self._refuse(404, f"no route GET {self.path}", "not_found")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # outcomes are counted; bodies and tokens are never logged

    return BoundedServer((host, port), Handler, relay, limit)


def main() -> int:
    try:
        settings = RelaySettings.from_env(os.environ)
    except ValueError as error:
        print(f"retrain relay: {error}", file=sys.stderr)
        return 2
    server = make_server(
        Relay(settings),
        os.environ.get("HOST", "0.0.0.0"),
        int(os.environ.get("PORT", "8080")),
        float(os.environ.get("SOCKET_TIMEOUT_SECONDS", SOCKET_TIMEOUT_SECONDS)),
        int(os.environ.get("MAX_CONNECTIONS", MAX_CONNECTIONS)),
    )
    print(json.dumps({"message": "listening", "port": server.server_address[1], "repository": settings.repository}))
    server.serve_forever()
    return 0

"""The relay's HTTP side: `POST /alerts` (Alertmanager's webhook), `GET /healthz`, and `GET
/metrics` (requests by outcome, Prometheus text). Bodies are bounded and must arrive within the
socket timeout; anything else is a JSON error naming the problem, counted like the rest."""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from retrain_relay.relay import MAX_BODY_BYTES, Answer, Relay, RelaySettings

SOCKET_TIMEOUT_SECONDS = 10


def make_server(relay: Relay, host: str, port: int, timeout: float = SOCKET_TIMEOUT_SECONDS) -> ThreadingHTTPServer:
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

    return ThreadingHTTPServer((host, port), Handler)


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
    )
    print(json.dumps({"message": "listening", "port": server.server_address[1], "repository": settings.repository}))
    server.serve_forever()
    return 0

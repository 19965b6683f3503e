"""The retrain relay as a real process between Alertmanager-shaped webhooks and a local stand-in
for GitHub's API: the token is checked, one incident starts one run however often it is re-sent,
a dispatch GitHub refused is retried, and bad or hostile requests get a JSON error, counted."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.support.model_server import free_port

TOKEN = "relay-token-from-pulumi"
DRIFT = "ModelFeatureDriftCritical"


@dataclass
class FakeGitHub:
    """Records repository_dispatch calls; answers 204, or `status` while it is set."""

    dispatches: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 204

    def serve(self) -> ThreadingHTTPServer:
        github = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.path != "/repos/acme/mlops-platform/dispatches":
                    self.send_response(404)
                elif github.status == 204:
                    github.dispatches.append(json.loads(body))
                    github.headers.append(dict(self.headers))
                    self.send_response(204)
                else:
                    self.send_response(github.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    server = fake.serve()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield fake
    server.shutdown()


@pytest.fixture
def relay(github: FakeGitHub) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "RELAY_TOKEN": TOKEN,
        "GITHUB_TOKEN": "github-app-token",
        "GITHUB_REPOSITORY": "acme/mlops-platform",
        "GITHUB_API_URL": github.url,  # type: ignore[attr-defined]
        "RETRAIN_ALERTS": f"{DRIFT},ModelAccuracyDrop",
        "STACK": "prod",
        "SOCKET_TIMEOUT_SECONDS": "1",
        "MAX_CONNECTIONS": "4",
    }
    process = subprocess.Popen([sys.executable, "-m", "retrain_relay"], env=env, stdout=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)


def _webhook(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "status": status,
        "receiver": "retrain",
        "groupKey": '{}:{alertname="ModelFeatureDriftCritical"}',
        "externalURL": "https://alertmanager.example.com",
        "alerts": list(alerts),
    }


def _alert(name: str = DRIFT, starts: str = "2026-12-06T10:00:00Z", status: str = "firing") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "critical", "feature": "alcohol"},
        "annotations": {"summary": "alcohol drifted"},
        "startsAt": starts,
        "generatorURL": "https://prometheus.example.com/graph?g0.expr=drift",
        "fingerprint": f"fp-{name}",
    }


def _post(url: str, document: Any, token: str | None = TOKEN) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url + "/alerts", content=json.dumps(document), headers=headers)


def test_one_incident_starts_one_run_with_links_back_to_the_alert(relay: str, github: FakeGitHub) -> None:
    first = _post(relay, _webhook(_alert()))
    assert first.status_code == 200 and len(first.json()["dispatched"]) == 1
    # Alertmanager's repeat notifications and a second replica's delivery of the same incident.
    for _ in range(3):
        again = _post(relay, _webhook(_alert()))
        assert again.status_code == 200 and again.json()["dispatched"] == [] and len(again.json()["duplicates"]) == 1
    assert len(github.dispatches) == 1
    (dispatch,) = github.dispatches
    assert dispatch["event_type"] == "retrain"
    payload = dispatch["client_payload"]
    assert payload["alertname"] == DRIFT and payload["stack"] == "prod" and payload["feature"] == "alcohol"
    assert payload["alert_url"].startswith("https://prometheus.example.com/")
    assert payload["alertmanager_url"] == "https://alertmanager.example.com"
    assert github.headers[0]["Authorization"] == "Bearer github-app-token"
    # The same alert firing again later is a new incident.
    assert _post(relay, _webhook(_alert(starts="2026-12-07T10:00:00Z"))).json()["dispatched"]
    # Resolved notifications and alerts that do not retrain start nothing.
    assert _post(relay, _webhook(_alert(status="resolved"), status="resolved")).json()["dispatched"] == []
    assert _post(relay, _webhook(_alert(name="KubePodCrashLooping"))).json()["dispatched"] == []
    assert len(github.dispatches) == 2


def test_a_dispatch_github_refused_is_retried_by_alertmanagers_next_delivery(relay: str, github: FakeGitHub) -> None:
    github.status = 503
    refused = _post(relay, _webhook(_alert()))
    assert refused.status_code == 502 and "GitHub answered 503" in refused.json()["failed"][0]
    github.status = 204
    assert _post(relay, _webhook(_alert())).json()["dispatched"]
    assert len(github.dispatches) == 1


@pytest.mark.parametrize(
    ("token", "body", "status", "words"),
    [
        (None, _webhook(_alert()), 401, "Authorization: Bearer"),
        ("wrong", _webhook(_alert()), 401, "Authorization: Bearer"),
        (TOKEN[:-1], _webhook(_alert()), 401, "Authorization: Bearer"),
        (TOKEN, "not json", 400, "not an Alertmanager webhook"),
        (TOKEN, {"alerts": "nope"}, 400, "not an Alertmanager webhook"),
        (TOKEN, [1, 2], 400, "not an Alertmanager webhook"),
    ],
)
def test_bad_requests_are_refused_with_a_reason_and_start_nothing(
    relay: str, github: FakeGitHub, token: str | None, body: Any, status: int, words: str
) -> None:
    response = _post(relay, body, token)
    assert response.status_code == status and words in response.json()["error"]
    assert github.dispatches == []


def test_huge_and_slow_bodies_are_cut_off_and_every_outcome_is_counted(relay: str, github: FakeGitHub) -> None:
    huge = httpx.post(relay + "/alerts", content=b"x" * (2 << 20), headers={"authorization": f"Bearer {TOKEN}"})
    assert huge.status_code == 413
    host, port = relay.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as slow:
        slow.sendall(b"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        slow.settimeout(5)
        started = time.monotonic()
        answer = slow.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 4
    _post(relay, _webhook(_alert()), token="wrong")
    _post(relay, _webhook(_alert()))
    metrics = httpx.get(relay + "/metrics").text
    for outcome in ("too_large", "timeout", "unauthorized", "dispatched"):
        assert f'retrain_relay_requests_total{{outcome="{outcome}"}} 1' in metrics, metrics
    assert TOKEN not in metrics


def test_a_flood_of_idle_connections_is_refused_at_once_and_the_relay_recovers(relay: str, github: FakeGitHub) -> None:
    host, port = relay.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(4)]
    try:
        time.sleep(0.2)  # the four are being served (waiting for their requests)
        with socket.create_connection((host, int(port))) as extra:
            extra.settimeout(2)
            assert extra.recv(4096).startswith(b"HTTP/1.1 503")
    finally:
        for connection in idle:
            connection.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if _post(relay, _webhook(_alert())).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    assert len(github.dispatches) == 1
    assert 'retrain_relay_requests_total{outcome="overloaded"} 1' in httpx.get(relay + "/metrics").text

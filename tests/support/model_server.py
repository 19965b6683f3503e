"""Run the real model service as a process on a free port, for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

# Credentials the test servers run with (a deployment gets both from a Kubernetes Secret).
FEEDBACK_TOKEN = "test-labelling-credential-0001"
FEEDBACK_SIGNING_KEY = "test-signing-key-shared-by-every-replica-0001"
FEEDBACK_ENV = {"FEEDBACK_TOKEN": FEEDBACK_TOKEN, "FEEDBACK_SIGNING_KEY": FEEDBACK_SIGNING_KEY}
AUTHORIZATION = {"authorization": f"Bearer {FEEDBACK_TOKEN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path

    def client(self) -> httpx.Client:
        """A client that carries the labelling credential (what /feedback requires)."""
        return httpx.Client(base_url=self.url, timeout=10, headers=AUTHORIZATION)

    def log_lines(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def start_server(log: Path, wait_ready: bool = True, **env: str) -> RunningServer:
    port = free_port()
    environment = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        # No readiness drain before the stop: no load balancer here to drain (the drain has its own test).
        "SHUTDOWN_DRAIN_SECONDS": "0",
        **FEEDBACK_ENV,
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "model_service", "serve"],
        env=environment,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = RunningServer(process, f"http://127.0.0.1:{port}", port, log)
    deadline = time.monotonic() + 30
    path = "/v2/health/ready" if wait_ready else "/v2/health/live"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(server.url + path, timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"server not ready:\n{log.read_text()}")


def send_rows(client: httpx.Client, rows: np.ndarray, per_request: int = 50) -> list[str]:
    """POST `rows` to the v2 infer route in requests of `per_request` rows; return the feedback ids."""
    ids = []
    for start in range(0, len(rows), per_request):
        chunk = rows[start : start + per_request]
        tensor = {"name": "x", "datatype": "FP64", "shape": list(chunk.shape), "data": chunk.ravel().tolist()}
        response = client.post("/v2/models/wine-classifier/infer", json={"inputs": [tensor]})
        assert response.status_code == 200, response.text
        ids.append(response.json()["parameters"]["feedback_id"])
    return ids

"""Readiness before and after the model loads, a model that cannot load, graceful shutdown, settings."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from model_service.app import ModelServer
from model_service.logs import AccessLog
from model_service.settings import Settings, SettingsError
from tests.support.model_server import start_server

ROW = [14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0]


def test_not_ready_until_the_model_is_loaded_and_ready_after(artifact: Path) -> None:
    async def scenario() -> tuple[int, int, int, int]:
        app = ModelServer(Settings(model_dir=artifact), AccessLog(enabled=False))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            before = (await client.get("/v2/health/ready")).status_code
            infer_before = (await client.post("/invocations", json=[ROW])).status_code
            await app.load()
            after = (await client.get("/v2/health/ready")).status_code
            infer_after = (await client.post("/invocations", json=[ROW])).status_code
        return before, infer_before, after, infer_after

    assert asyncio.run(scenario()) == (503, 503, 200, 200)


def test_a_model_that_cannot_load_keeps_the_server_live_but_not_ready(tmp_path: Path) -> None:
    server = start_server(tmp_path / "server.log", wait_ready=False, MODEL_DIR=str(tmp_path / "empty"))
    try:
        with server.client() as client:
            deadline = time.monotonic() + 10
            while "error" not in (ready := client.get("/v2/health/ready").json()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.get("/v2/health/live").status_code == 200
            response = client.get("/v2/health/ready")
            assert response.status_code == 503
            assert "no model in" in ready["error"] and "MODEL_DIR" in ready["error"]
            assert client.post("/invocations", json=[ROW]).status_code == 503
            assert "model_service_model_ready 0.0" in client.get("/metrics").text
    finally:
        assert server.stop() in (0, -15)


def test_a_corrupt_model_is_refused(artifact: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in artifact.iterdir():
        (broken / item.name).write_bytes(item.read_bytes())
    (broken / "model.onnx").write_bytes((broken / "model.onnx").read_bytes() + b"\0")
    app = ModelServer(Settings(model_dir=broken, model_load_attempts=1), AccessLog(enabled=False))
    asyncio.run(app.load())
    assert app.model is None
    assert app.load_error is not None and "sha256" in app.load_error


def test_sigterm_drains_readiness_first_finishes_in_flight_requests_and_exits_0(artifact: Path, tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "server.log", MODEL_DIR=str(artifact), GRACEFUL_SHUTDOWN_SECONDS="10", SHUTDOWN_DRAIN_SECONDS="1.5"
    )
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 13], "data": ROW}]}).encode()
    head = (
        f"POST /v2/models/wine-classifier/infer HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    in_flight = socket.create_connection(("127.0.0.1", server.port))
    try:
        in_flight.sendall(head + body[:10])  # the request is in flight: its body is still arriving
        time.sleep(0.3)
        server.process.send_signal(15)
        time.sleep(0.3)
        with server.client() as client:
            # Draining: readiness says 503 at once, but requests are still served.
            assert client.get("/v2/health/ready").status_code == 503
            assert client.get("/ping").status_code == 503
            assert client.post("/invocations", json=[ROW]).status_code == 200
        time.sleep(1.6)
        assert server.process.poll() is None, "the server quit with a request in flight"
        with pytest.raises(OSError):  # after the drain the listener is closed
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
        in_flight.sendall(body[10:])
        response = b""
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            chunk = in_flight.recv(65536)
            if not chunk:
                break
            response += chunk
    finally:
        in_flight.close()
    assert response.startswith(b"HTTP/1.1 200")
    assert b'"class_name"' in response
    assert server.process.wait(timeout=15) == 0  # a planned stop, not a crash (uvicorn alone exits 143)
    assert any("draining" in line for line in server.log_lines())


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("PORT", "http", "PORT='http'"),
        ("PORT", "70000", "a port number"),
        ("MAX_BATCH_SIZE", "0", "1 to 4096"),
        ("LOG_FEATURES", "maybe", "expected true or false"),
        ("MODEL_URI", "https://example.com/model.tar.gz", "s3://"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "alloy:4318", "http(s):// URL"),
        ("TRACE_SAMPLE_RATIO", "2", "0 to 1"),
        ("TRACE_SAMPLE_RATIO", "one", "could not convert"),
        ("MODEL_METRICS", "sometimes", "expected true or false"),
    ],
)
def test_bad_settings_name_the_variable(variable: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError, match=variable) as caught:
        Settings.from_env({variable: value})
    assert words in str(caught.value)


def test_serve_exits_2_on_bad_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "model_service", "serve"],
        env={"PORT": "x", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "PORT='x'" in result.stderr


def _copy_artifact(artifact: Path, target: Path) -> Path:
    target.mkdir()
    for item in artifact.iterdir():
        (target / item.name).write_bytes(item.read_bytes())
    return target


def _break_nested_metadata(folder: Path) -> None:
    metadata = json.loads((folder / "metadata.json").read_text())
    del metadata["validation"]["rows"]
    (folder / "metadata.json").write_text(json.dumps(metadata))


def _break_onnx(folder: Path) -> None:
    import hashlib

    garbage = b"not an onnx graph" * 10
    (folder / "model.onnx").write_bytes(garbage)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["model_sha256"] = hashlib.sha256(garbage).hexdigest()
    (folder / "metadata.json").write_text(json.dumps(metadata))


def _break_gzip(folder: Path) -> None:
    for item in folder.iterdir():
        item.unlink()
    (folder / "model.tar.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")


@pytest.mark.parametrize(
    ("breakage", "words"),
    [
        (_break_nested_metadata, "KeyError"),
        (_break_onnx, "InvalidProtobuf"),
        (_break_gzip, "not a readable model.tar.gz"),
    ],
    ids=["metadata key", "onnxruntime", "gzip"],
)
def test_every_load_failure_has_its_reason_in_readiness_and_the_log(
    artifact: Path, tmp_path: Path, breakage: Any, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    broken = _copy_artifact(artifact, tmp_path / "broken")
    breakage(broken)
    app = ModelServer(
        Settings(model_dir=broken, model_workdir=tmp_path / "work", model_load_attempts=1),
        AccessLog(enabled=False),
    )

    async def scenario() -> tuple[int, dict[str, Any], int]:
        await app.load()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            ready = await client.get("/v2/health/ready")
            live = await client.get("/v2/health/live")
        return ready.status_code, ready.json(), live.status_code

    with caplog.at_level("ERROR", logger="model_service"):
        ready_status, ready_body, live_status = asyncio.run(scenario())
    assert ready_status == 503 and words in ready_body["error"]
    assert live_status == 503  # the only attempt failed: Kubernetes should restart the pod
    assert any(words in str(getattr(record, "error", "")) for record in caplog.records)


def test_a_failed_download_is_retried_with_backoff_then_liveness_fails(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "server.log",
        wait_ready=False,
        MODEL_URI="s3://models/wine/model.tar.gz",
        MODEL_WORKDIR=str(tmp_path / "work"),
        MODEL_LOAD_ATTEMPTS="3",
        MODEL_LOAD_BACKOFF_SECONDS="0.2",
        # Nothing listens here: every download fails at once.
        AWS_ENDPOINT_URL_S3="http://127.0.0.1:9",
        AWS_MAX_ATTEMPTS="1",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
    )
    try:
        with server.client() as client:
            deadline = time.monotonic() + 30
            while client.get("/v2/health/live").status_code == 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            live = client.get("/v2/health/live")
            assert live.status_code == 503
            assert "attempt 3 of 3" in live.json()["error"] and "could not download" in live.json()["error"]
            assert client.get("/v2/health/ready").status_code == 503
        attempts = [json.loads(line) for line in server.log_lines() if '"model not loaded"' in line]
        assert [entry["attempt"] for entry in attempts] == [1, 2, 3]
        assert any("giving up" in line for line in server.log_lines())
    finally:
        server.stop()


def test_a_model_that_appears_later_is_picked_up_by_a_retry(artifact: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    server = start_server(
        tmp_path / "server.log",
        wait_ready=False,
        MODEL_DIR=str(folder),
        MODEL_LOAD_ATTEMPTS="50",
        MODEL_LOAD_BACKOFF_SECONDS="0.1",
    )
    try:
        with server.client() as client:
            deadline = time.monotonic() + 10
            while "error" not in client.get("/v2/health/ready").json() and time.monotonic() < deadline:
                time.sleep(0.05)
            _copy_artifact(artifact, folder)
            deadline = time.monotonic() + 30
            while client.get("/v2/health/ready").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            ready = client.get("/v2/health/ready")
            assert ready.status_code == 200 and "error" not in ready.json()
            assert client.get("/v2/health/live").status_code == 200
    finally:
        server.stop()

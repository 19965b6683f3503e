"""Bounded memory: the head and body limits hold under a flood, the admission budget sheds load
with 503 and Retry-After instead of queueing, and the budget's expansion factor is measured."""

from __future__ import annotations

import socket
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from bench.soak import rss_bytes
from model_service.settings import BODY_EXPANSION, Settings, SettingsError
from tests.service.test_hostile import requests_counted
from tests.support.model_server import RunningServer, start_server
from tests.support.raw_http import exchange, parse_responses, request

MAX_BODY = 65536


@pytest.fixture(scope="module")
def tight_server(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("limits") / "server.log",
        MODEL_DIR=str(artifact),
        MAX_BODY_BYTES=str(MAX_BODY),
        # Room for two bodies of the maximum size, parsed.
        REQUEST_MEMORY_BYTES=str(2 * MAX_BODY * BODY_EXPANSION),
        BODY_TIMEOUT_SECONDS="5",
    )
    yield running
    running.stop()


@pytest.mark.parametrize(
    "body",
    [
        b"[" + b'"a",' * (MAX_BODY // 4 - 1) + b'"a"]',
        b"[" + b"0.1," * (MAX_BODY // 4 - 1) + b"0.1]",
        b"[" + b"[]," * (MAX_BODY // 3 - 1) + b"[]]",
        b"[" + b"{}," * (MAX_BODY // 3 - 1) + b"{}]",
        b"{" + b",".join(b'"%d":0' % i for i in range(MAX_BODY // 10)) + b"}",
    ],
    ids=["strings", "floats", "empty lists", "empty objects", "keys"],
)
def test_a_parsed_body_stays_within_the_budgeted_expansion(body: bytes) -> None:
    tracemalloc.start()
    try:
        orjson.loads(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= BODY_EXPANSION * len(body)


def test_a_128_mb_header_is_refused_early_without_growing_memory(tight_server: RunningServer) -> None:
    before = rss_bytes(tight_server.process.pid)
    sent = 0
    with socket.create_connection(("127.0.0.1", tight_server.port), timeout=10) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nX-Flood: ")
        chunk = b"a" * 65536
        try:
            while sent < 128 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except ConnectionResetError:
            pass
    assert sent < 8 * 1024 * 1024, "the server kept reading a flood of header bytes"
    responses = parse_responses(received)
    assert responses and responses[0].status == 431
    assert rss_bytes(tight_server.process.pid) - before < 16 * 1024 * 1024


def test_the_memory_budget_sheds_load_with_503_and_retry_after(tight_server: RunningServer) -> None:
    head = (
        b"POST /invocations HTTP/1.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % MAX_BODY
    )
    holders = [socket.create_connection(("127.0.0.1", tight_server.port), timeout=10) for _ in range(2)]
    try:
        with tight_server.client() as client:
            before = requests_counted(client)
            for holder in holders:
                holder.sendall(head + b"[")  # each reserves a maximum-size body and waits for it
            time.sleep(0.3)
            shed = exchange(
                tight_server.port, [request("POST", "/invocations", b"[[1]]", [("Content-Type", "application/json")])]
            )
            assert [r.status for r in shed.responses] == [503]
            assert shed.responses[0].headers["retry-after"] == "1"
            assert shed.responses[0].reason() == "overloaded"
            # Health checks need no body budget: still answered.
            assert client.get("/v2/health/live").status_code == 200
            for holder in holders:
                holder.sendall(b" " * (MAX_BODY - 2) + b"]")
                assert parse_responses(holder.recv(65536))[0].status == 400  # an empty batch, answered
            served = exchange(
                tight_server.port, [request("POST", "/invocations", b"[[1]]", [("Content-Type", "application/json")])]
            )
            assert served.responses[0].status == 400  # admitted again (and refused for its one feature)
            # scrape + shed + live + two holders + served, each once
            assert requests_counted(client) == before + 6
    finally:
        for holder in holders:
            holder.close()


def test_a_budget_that_cannot_hold_one_request_is_refused_at_start() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"MAX_BODY_BYTES": "1048576", "MEMORY_LIMIT_BYTES": str(64 * 1024 * 1024)})
    assert "MAX_BODY_BYTES" in str(refused.value) and "MEMORY_LIMIT_BYTES" in str(refused.value)


def test_the_budget_and_replay_cache_derive_from_the_memory_limit() -> None:
    settings = Settings.from_env({"MEMORY_LIMIT_BYTES": str(512 * 1024 * 1024)})
    assert settings.request_budget_bytes() == int(512 * 1024 * 1024 * 0.4)
    assert settings.replay_cache_bytes() == int(512 * 1024 * 1024 * 0.02)
    assert Settings.from_env({"REQUEST_MEMORY_BYTES": str(10**8)}).request_budget_bytes() == 10**8


def test_a_secret_setting_is_never_echoed_in_an_error() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"FEEDBACK_SIGNING_KEY": "short-secret"})
    assert "short-secret" not in str(refused.value) and "FEEDBACK_SIGNING_KEY" in str(refused.value)

"""The real server against hostile input: crafted heads, bodies, encodings, ids, shapes, sizes and
slow clients, sent as raw bytes. Every case must get a 4xx (never a 5xx), never hang, leave the
server ready, and be counted exactly once in /metrics."""

from __future__ import annotations

import base64
import json
import math
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_wine

from tests.support.model_server import AUTHORIZATION, RunningServer, start_server
from tests.support.raw_http import exchange, request

WINE = load_wine()
ROW = WINE.data[0].tolist()
INFER = "/v2/models/wine-classifier/infer"
JSON = ("Content-Type", "application/json")
AUTH = ("Authorization", AUTHORIZATION["authorization"])
MAX_BODY = 65536
MAX_HEADER_BYTES = 8192
TIMEOUT = 1.0


def tensor(data: object, shape: object = (1, 13), datatype: str = "FP64", **extra: object) -> dict[str, object]:
    return {
        "name": "input-0",
        "datatype": datatype,
        "shape": list(shape) if isinstance(shape, tuple) else shape,
        "data": data,
        **extra,
    }


def v2_body(*tensors: dict[str, object], **extra: object) -> bytes:
    return json.dumps({"inputs": list(tensors), **extra}).encode()


def infer(body: bytes, *headers: tuple[str, str]) -> bytes:
    return request("POST", INFER, body, [JSON, *headers])


def binary_infer(document: dict[str, object], binary: bytes, header_length: str | None = None) -> bytes:
    head = json.dumps(document).encode()
    length = header_length if header_length is not None else str(len(head))
    return request("POST", INFER, head + binary, [("Inference-Header-Content-Length", length)])


def feedback(document: object, *headers: tuple[str, str]) -> bytes:
    return request("POST", "/feedback", json.dumps(document).encode(), [JSON, *headers])


@dataclass(frozen=True)
class Case:
    name: str
    parts: Sequence[bytes | float]
    statuses: tuple[int, ...]
    reason: str | None = None
    # Responses expected on the connection (0: the server closes without answering).
    responses: int = 1
    extra: dict[str, object] = field(default_factory=dict)


def _forged_feedback_id() -> str:
    payload = struct.pack(">IQBH", int(time.time()), 1, 1, 1) + b"\x00"
    return "f1." + base64.urlsafe_b64encode(payload + b"\x00" * 16).rstrip(b"=").decode()


VALID = v2_body(tensor(ROW))
ROW_JSON = json.dumps(ROW)

CASES = [
    # -- the request head ----------------------------------------------------------------------
    Case(
        "header of 1 MB",
        [b"GET /v2/health/ready HTTP/1.1\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"],
        (431,),
        "header_too_large",
    ),
    Case(
        "header of 9 KB",
        [request("GET", "/v2/health/ready", headers=[("X-Big", "a" * 9000)])],
        (431,),
        "header_too_large",
    ),
    Case(
        "100 headers",
        [request("GET", "/ping", headers=[(f"X-H{i}", "v") for i in range(100)])],
        (431,),
        "too_many_headers",
    ),
    Case("URL of 20 KB", [request("GET", "/v2/" + "a" * 20_000)], (431,), "header_too_large"),
    Case("query string of 10 KB", [request("GET", "/ping?" + "q=1&" * 2500)], (431,), "header_too_large"),
    Case("path of 4 KB", [request("GET", "/" + "b" * 4000)], (404,)),
    Case("space in a header name", [b"GET /ping HTTP/1.1\r\nBad Name: x\r\n\r\n"], (400,), "malformed_http"),
    Case("NUL in a header value", [b"GET /ping HTTP/1.1\r\nX-A: a\x00b\r\n\r\n"], (400,), "malformed_http"),
    Case("bare CR line ending", [b"GET /ping HTTP/1.1\rHost: x\r\r"], (400,), "malformed_http"),
    Case("HTTP/2 preface", [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], (400,), "malformed_http"),
    Case("HTTP/0.9 request", [b"GET /ping\r\n\r\n"], (200, 400)),
    Case("binary garbage", [bytes(range(256)) * 4], (400,), "malformed_http"),
    Case(
        "two different Content-Lengths",
        [b"POST /invocations HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\n[1]"],
        (400,),
        "malformed_http",
    ),
    Case(
        "Content-Length not a number",
        [b"POST /invocations HTTP/1.1\r\nContent-Length: ten\r\n\r\n"],
        (400,),
        "malformed_http",
    ),
    Case(
        "negative Content-Length",
        [b"POST /invocations HTTP/1.1\r\nContent-Length: -1\r\n\r\n"],
        (400,),
        "malformed_http",
    ),
    Case(
        "Content-Length of 30 digits",
        [b"POST /invocations HTTP/1.1\r\nConnection: close\r\nContent-Length: " + b"9" * 30 + b"\r\n\r\n"],
        (400, 413),
    ),
    Case(
        "Content-Length over the limit",
        [b"POST /invocations HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"],
        (413,),
        "body_too_large",
    ),
    Case(
        "Transfer-Encoding and Content-Length",
        [b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"],
        (400,),
        "malformed_http",
    ),
    Case(
        "bad chunk size",
        [b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nab\r\n0\r\n\r\n"],
        (400,),
        "malformed_http",
    ),
    Case("unknown method", [request("BREW", "/ping")], (400, 405)),
    Case("path traversal", [request("GET", "/v2/models/../../etc/passwd")], (404,)),
    Case("percent-encoded traversal", [request("POST", "/v2/models/%2e%2e%2f%2e%2e/infer", VALID, [JSON])], (404,)),
    Case("x-request-id with spaces", [infer(VALID, ("X-Request-Id", "a b"))], (400,), "bad_request_id"),
    Case("x-request-id of 200 characters", [infer(VALID, ("X-Request-Id", "a" * 200))], (400,), "bad_request_id"),
    Case("x-request-id with a slash", [infer(VALID, ("X-Request-Id", "../../etc"))], (400,), "bad_request_id"),
    Case(
        "x-request-id with Latin-1 bytes",
        [infer(VALID).replace(b"Connection: close", b"Connection: close\r\nX-Request-Id: caf\xe9")],
        (400,),
        "bad_request_id",
    ),
    Case("x-request-id empty", [infer(VALID, ("X-Request-Id", ""))], (200,)),
    # -- bodies and encodings ------------------------------------------------------------------
    Case("malformed JSON", [infer(b'{"inputs": [')], (400,), "malformed_json"),
    Case("empty body", [infer(b"")], (400,), "malformed_json"),
    Case("JSON with a byte-order mark", [infer(b"\xef\xbb\xbf" + VALID)], (400,), "malformed_json"),
    Case("UTF-16 body", [infer(VALID.decode().encode("utf-16"))], (400,), "malformed_json"),
    Case("invalid UTF-8 in a string", [infer(b'{"inputs": [], "x": "\xff\xfe"}')], (400,), "malformed_json"),
    Case("nesting 100 000 deep", [infer(b"[" * 100_000 + b"]" * 100_000)], (413,), "body_too_large"),
    Case("nesting 5000 deep", [infer(b"[" * 5000 + b"]" * 5000)], (400,), "malformed_json"),
    Case(
        "number of 400 digits",
        [infer(v2_body(tensor([1] * 12 + ["X"])).replace(b'"X"', b"1" + b"0" * 400))],
        (400,),
        "non_finite",
    ),
    Case("integer of 5000 digits", [infer(v2_body(tensor([1] * 12 + ["X"])).replace(b'"X"', b"7" * 5000))], (400,)),
    Case("NaN literal", [infer(v2_body(tensor([1] * 12 + ["X"])).replace(b'"X"', b"NaN"))], (400,), "malformed_json"),
    Case(
        "Infinity literal",
        [infer(v2_body(tensor([1] * 12 + ["X"])).replace(b'"X"', b"Infinity"))],
        (400,),
        "malformed_json",
    ),
    Case("null document", [infer(b"null")], (400,), "schema"),
    Case("array document", [infer(b"[]")], (400,), "schema"),
    Case("two input tensors", [infer(v2_body(tensor(ROW), tensor(ROW)))], (400,), "schema"),
    Case("strings for numbers", [infer(v2_body(tensor([str(v) for v in ROW])))], (400,), "non_numeric"),
    Case("booleans for numbers", [infer(v2_body(tensor([True] * 13)))], (400,), "non_numeric"),
    Case("nulls for numbers", [infer(v2_body(tensor([None] * 13)))], (400,), "non_numeric"),
    Case("negative shape", [infer(v2_body(tensor(ROW, shape=[-1, 13])))], (400,), "shape"),
    Case("shape of a trillion rows", [infer(v2_body(tensor(ROW, shape=[10**12, 13])))], (413,), "too_many_rows"),
    Case("float shape", [infer(v2_body(tensor(ROW, shape=[1.0, 13])))], (400,), "shape"),
    Case("shape of three dimensions", [infer(v2_body(tensor(ROW, shape=[1, 13, 1])))], (400,), "shape"),
    Case("INT8 datatype", [infer(v2_body(tensor(ROW, datatype="INT8")))], (400,), "datatype"),
    Case("ragged nested rows", [infer(v2_body(tensor([ROW, 5], shape=[2, 13])))], (400,), "shape"),
    Case(
        "text/plain content type",
        [request("POST", INFER, VALID, [("Content-Type", "text/plain")])],
        (415,),
        "content_type",
    ),
    Case("no content type (JSON)", [request("POST", INFER, VALID)], (200,)),
    Case(
        "JSON declared UTF-16",
        [
            request(
                "POST", INFER, VALID.decode().encode("utf-16"), [("Content-Type", "application/json; charset=utf-16")]
            )
        ],
        (400,),
        "malformed_json",
    ),
    Case("gzip body not declared", [infer(b"\x1f\x8b\x08\x00" + b"\x00" * 20)], (400,), "malformed_json"),
    Case(
        "chunked body",
        [
            b"POST /invocations HTTP/1.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            + f"{len(ROW_JSON):x}".encode()
            + b"\r\n"
            + ROW_JSON.encode()
            + b"\r\n0\r\n\r\n"
        ],
        (200,),
    ),
    Case(
        "chunked body over the limit",
        [
            b"POST /invocations HTTP/1.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + (b"8000\r\n" + b" " * 0x8000 + b"\r\n") * 3 + b"0\r\n\r\n"
        ],
        (413,),
        "body_too_large",
    ),
    # -- ids -----------------------------------------------------------------------------------
    Case("body id with CR LF", [infer(v2_body(tensor(ROW), id="a\r\nSet-Cookie: x=1"))], (400,), "bad_request_id"),
    Case(
        "body id non-Latin-1",
        [infer(v2_body(tensor(ROW), id="\u043f\u0440\u0438\u0432\u0435\u0442"))],
        (400,),
        "bad_request_id",
    ),
    Case("body id emoji", [infer(v2_body(tensor(ROW), id="\U0001f600"))], (400,), "bad_request_id"),
    Case("body id a number", [infer(v2_body(tensor(ROW), id=7))], (400,), "bad_request_id"),
    Case("body id of 129 characters", [infer(v2_body(tensor(ROW), id="a" * 129))], (400,), "bad_request_id"),
    # -- values --------------------------------------------------------------------------------
    Case("thirteen 1e308 features", [infer(v2_body(tensor([1e308] * 13)))], (400,), "out_of_range"),
    Case("a -1e308 feature", [infer(v2_body(tensor([-1e308, *ROW[1:]])))], (400,), "out_of_range"),
    Case("alcohol of a million", [infer(v2_body(tensor([1e6, *ROW[1:]])))], (400,), "out_of_range"),
    Case(
        "CSV out of range",
        [request("POST", "/invocations", ("1e300," * 13)[:-1].encode(), [("Content-Type", "text/csv")])],
        (400,),
        "out_of_range",
    ),
    Case(
        "CSV over the row limit",
        [
            request(
                "POST", "/invocations", (",".join(map(str, ROW)) + "\n").encode() * 70, [("Content-Type", "text/csv")]
            )
        ],
        (413,),
        "too_many_rows",
    ),
    Case(
        "CSV quoted values",
        [request("POST", "/invocations", b'"1","2"\n', [("Content-Type", "text/csv")])],
        (400,),
        "feature_count",
    ),
    Case(
        "CSV invalid UTF-8",
        [request("POST", "/invocations", b"\xff,1\n", [("Content-Type", "text/csv")])],
        (400,),
        "non_numeric",
    ),
    # -- the binary tensor data extension -------------------------------------------------------
    Case(
        "binary header but no data",
        [binary_infer({"inputs": [tensor(ROW)]}, b"", header_length="99999")],
        (400,),
        "binary_data",
    ),
    Case(
        "binary header not a number",
        [binary_infer({"inputs": [tensor(ROW)]}, b"", header_length="12a")],
        (400,),
        "binary_data",
    ),
    Case(
        "binary size mismatch",
        [binary_infer({"inputs": [{**tensor(None), "parameters": {"binary_data_size": 8}}]}, b"\x00" * 8)],
        (400,),
        "binary_data",
    ),
    Case(
        "binary NaN",
        [
            binary_infer(
                {
                    "inputs": [
                        {"name": "x", "datatype": "FP64", "shape": [1, 13], "parameters": {"binary_data_size": 104}}
                    ]
                },
                struct.pack("<13d", math.nan, *ROW[1:]),
            )
        ],
        (400,),
        "non_finite",
    ),
    Case(
        "binary size without the header",
        [
            infer(
                json.dumps(
                    {
                        "inputs": [
                            {"name": "x", "datatype": "FP64", "shape": [1, 13], "parameters": {"binary_data_size": 104}}
                        ]
                    }
                ).encode()
            )
        ],
        (400,),
        "binary_data",
    ),
    Case("unknown output requested", [infer(v2_body(tensor(ROW), outputs=[{"name": "secrets"}]))], (400,), "schema"),
    # -- feedback ------------------------------------------------------------------------------
    Case("feedback without a credential", [feedback({"feedback_id": "x", "label": 0})], (401,), "unauthorized"),
    Case(
        "feedback with a wrong credential",
        [feedback({"feedback_id": "x", "label": 0}, ("Authorization", "Bearer guess"))],
        (403,),
        "unauthorized",
    ),
    Case(
        "feedback with basic auth",
        [feedback({"feedback_id": "x", "label": 0}, ("Authorization", "Basic eDp5"))],
        (403,),
        "unauthorized",
    ),
    Case(
        "feedback with a forged id",
        [feedback({"feedback_id": _forged_feedback_id(), "label": 0}, AUTH)],
        (400,),
        "bad_feedback_id",
    ),
    Case("feedback id not base64", [feedback({"feedback_id": "f1.!!!!", "label": 0}, AUTH)], (400,), "bad_feedback_id"),
    Case("feedback id a number", [feedback({"feedback_id": 12, "label": 0}, AUTH)], (400,), "bad_feedback_id"),
    Case("feedback label a boolean", [feedback({"feedback_id": "x", "label": True}, AUTH)], (400,), "bad_label"),
    Case(
        "feedback 100 000 labels",
        [feedback({"feedback_id": "x", "labels": [0] * 100_000}, AUTH)],
        (413,),
        "body_too_large",
    ),
    # -- slow and broken clients ---------------------------------------------------------------
    Case(
        "head sent a byte at a time",
        [*(b for c in b"GET /ping HTTP/1.1\r\nX-Slow: aaaaaaaaaa" for b in (bytes([c]), 0.05))],
        (408,),
        "header_timeout",
    ),
    Case("body shorter than Content-Length", [infer(VALID)[:-10]], (408,), "body_timeout"),
    Case(
        "body dripping",
        [infer(VALID)[:-40], *(p for i in range(8) for p in (infer(VALID)[-40 + i : -39 + i], 0.2))],
        (408,),
        "body_timeout",
    ),
    Case("a connection that sends nothing", [], (), responses=0),
    Case("half a request line, then nothing", [b"GET /pi"], (408,), "header_timeout"),
    Case(
        "two pipelined requests",
        [request("GET", "/ping").replace(b"Connection: close\r\n", b"") + request("GET", "/ping")],
        (200,),
        responses=2,
    ),
]


@pytest.fixture(scope="module")
def hostile_server(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("hostile") / "server.log",
        MODEL_DIR=str(artifact),
        MAX_BODY_BYTES=str(MAX_BODY),
        MAX_ROWS_PER_REQUEST="64",
        MAX_HEADER_BYTES=str(MAX_HEADER_BYTES),
        MAX_HEADERS="32",
        HEADER_TIMEOUT_SECONDS=str(TIMEOUT),
        BODY_TIMEOUT_SECONDS=str(TIMEOUT),
    )
    yield running
    running.stop()


def requests_counted(client: httpx.Client) -> float:
    """Sum of model_service_requests_total over every route and status class."""
    total = 0.0
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "model_service_requests_total":
                total += sample.value
    return total


def test_the_suite_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request_gets_a_clear_4xx_is_counted_once_and_leaves_the_server_ready(
    hostile_server: RunningServer, case: Case
) -> None:
    with hostile_server.client() as client:
        before = requests_counted(client)
        result = exchange(hostile_server.port, case.parts, read_timeout=TIMEOUT * 6)
        assert result.closed, f"the server neither answered nor closed within {result.seconds:.1f} s"
        assert len(result.responses) == case.responses, result.responses
        for response in result.responses:
            assert response.status < 500, response
            assert response.status in case.statuses, response
            if case.reason is not None:
                assert response.reason() == case.reason, response
        assert client.get("/v2/health/ready").status_code == 200
        # The first scrape and the readiness check, and every answered request once.
        assert requests_counted(client) == before + 2 + case.responses

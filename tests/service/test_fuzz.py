"""Property-based fuzzing of every POST route of the real server: thousands of generated bodies,
from random bytes to almost-valid documents. None may get a 5xx, hang, or go uncounted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.service.test_hostile import requests_counted
from tests.support.model_server import RunningServer, start_server

ROUTES = [
    ("/v2/models/wine-classifier/infer", "application/json"),
    ("/invocations", "application/json"),
    ("/invocations", "text/csv"),
    ("/feedback", "application/json"),
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=40,
)
NUMBERS = st.floats(min_value=-1e6, max_value=1e6) | st.integers(-1000, 1000)


@st.composite
def v2_documents(draw: st.DrawFn) -> Any:
    """Close to a valid inference request: the fields the parser reads, with drawn values."""
    rows = draw(st.integers(0, 4))
    tensor = {
        "name": draw(st.text(max_size=5)),
        "datatype": draw(st.sampled_from(["FP64", "FP32", "INT64", "BYTES", ""]) | JSON_VALUES),
        "shape": draw(st.just([rows, 13]) | st.lists(st.integers(-2, 20), max_size=3) | JSON_VALUES),
        "data": draw(st.lists(NUMBERS, min_size=rows * 13, max_size=rows * 13) | JSON_VALUES),
    }
    document: dict[str, Any] = {"inputs": draw(st.just([tensor]) | st.lists(st.just(tensor), max_size=3))}
    if draw(st.booleans()):
        document["id"] = draw(st.text(max_size=140) | JSON_VALUES)
    if draw(st.booleans()):
        document["outputs"] = draw(st.lists(st.fixed_dictionaries({"name": st.text(max_size=12)}), max_size=4))
    return document


@st.composite
def feedback_documents(draw: st.DrawFn) -> Any:
    return {
        "feedback_id": draw(st.text(max_size=60) | st.just("f1.") | JSON_VALUES),
        draw(st.sampled_from(["label", "labels"])): draw(JSON_VALUES),
    }


BODIES = (
    st.binary(max_size=300)
    | JSON_VALUES.map(lambda value: json.dumps(value).encode())
    | v2_documents().map(lambda value: json.dumps(value).encode())
    | feedback_documents().map(lambda value: json.dumps(value).encode())
    | st.lists(st.lists(NUMBERS, min_size=0, max_size=15), max_size=4).map(
        lambda rows: "\n".join(",".join(map(str, row)) for row in rows).encode()
    )
)


@pytest.fixture(scope="module")
def fuzz_server(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("fuzz") / "server.log", MODEL_DIR=str(artifact), ACCESS_LOG="false")
    yield running
    running.stop()


@pytest.mark.parametrize(("path", "content_type"), ROUTES)
def test_generated_bodies_never_get_a_5xx_and_are_all_counted(
    fuzz_server: RunningServer, path: str, content_type: str
) -> None:
    sent = 0
    with fuzz_server.client() as client:
        before = requests_counted(client)

        @settings(max_examples=800, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(body=BODIES)
        def post(body: bytes) -> None:
            nonlocal sent
            sent += 1
            response = client.post(path, content=body, headers={"content-type": content_type}, timeout=5)
            assert response.status_code < 500, (body[:200], response.text)
            assert "reason" in response.json() or response.status_code == 200

        post()
        assert client.get("/v2/health/ready").status_code == 200
        # The first scrape, the readiness check and every fuzzed request, each once.
        assert requests_counted(client) == before + 2 + sent

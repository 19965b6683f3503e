"""Pieces of the service on their own: batching, drift arithmetic, parsing edge cases."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import numpy as np
import pytest

from model_service.batching import MicroBatcher, Result
from model_service.drift import BinCounter, DriftReference, ks_distance, psi
from model_service.protocol import InputError, parse_csv, parse_v2_request
from model_service.request import Request
from model_service.tracing import RequestTrace


def test_concurrent_requests_share_one_model_call() -> None:
    calls: list[int] = []

    def predict(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        return np.column_stack([rows[:, 0], 1 - rows[:, 0]])

    async def scenario() -> list[Result]:
        batcher = MicroBatcher(predict, features=2, max_batch_size=64, max_wait_seconds=0.01)
        requests = [batcher.submit([i / 100, 0.0], 1) for i in range(20)]
        requests.append(batcher.submit([0.9, 0.0, 0.1, 0.0], 2))
        return await asyncio.gather(*requests)

    results = asyncio.run(scenario())
    assert calls == [22]
    assert results[3][:2] == ([1], [[0.03, 0.97]])
    assert results[-1][:2] == ([0, 1], [[0.9, pytest.approx(0.1)], [0.1, 0.9]])
    # Every request knows the model call its rows went into (its trace shows it).
    assert {result[2] for result in results} == {results[0][2]} and results[0][2].rows == 22


def test_a_full_batch_is_flushed_at_once_and_the_rest_waits_for_the_next() -> None:
    calls: list[int] = []

    def predict(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        return np.zeros((len(rows), 2))

    async def scenario() -> None:
        batcher = MicroBatcher(predict, features=1, max_batch_size=4, max_wait_seconds=0.01)
        await asyncio.gather(*[batcher.submit([1.0], 1) for _ in range(10)])

    asyncio.run(scenario())
    assert calls == [4, 4, 2]


def test_a_failing_model_fails_every_request_of_its_batch() -> None:
    def predict(rows: np.ndarray) -> np.ndarray:
        raise RuntimeError("model exploded")

    async def scenario() -> list[BaseException | object]:
        batcher = MicroBatcher(predict, features=1, max_batch_size=8, max_wait_seconds=0)
        return await asyncio.gather(*[batcher.submit([1.0], 1) for _ in range(3)], return_exceptions=True)

    assert [str(result) for result in asyncio.run(scenario())] == ["model exploded"] * 3


def test_bins_put_a_value_on_an_edge_in_the_lower_bin() -> None:
    data = np.array([[float(v)] for v in range(1, 101)])
    reference = DriftReference.fit(data, ["x"], ["a"] * 100, bins=4)
    counter = BinCounter(reference)
    edges = reference.features[0].edges
    counter.add(np.array([[edges[0]], [edges[0] + 0.01], [-1e9], [1e9]]))
    assert counter.counts[0, : reference.features[0].bin_count].tolist() == [2, 1, 0, 1]
    assert reference.features[0].shares == pytest.approx((0.25, 0.25, 0.25, 0.25))


def test_bins_of_every_feature_match_a_count_by_hand() -> None:
    """Features with different bin counts, batches of different sizes: each bin holds the values
    above its lower edge and at or below its upper edge."""
    rng = np.random.default_rng(7)
    data = np.column_stack([rng.normal(size=300), rng.integers(0, 3, size=300), rng.exponential(size=300)])
    reference = DriftReference.fit(data, ["normal", "three-valued", "skewed"], ["a"] * 300, bins=6)
    counter = BinCounter(reference)
    live = [rng.normal(scale=2, size=(size, 3)) for size in (1, 7, 500)]
    for batch in live:
        counter.add(batch)
    rows = np.concatenate(live)
    for index, feature in enumerate(reference.features):
        bounds = [-np.inf, *feature.edges, np.inf]
        expected = [
            int(((rows[:, index] > low) & (rows[:, index] <= high)).sum()) for low, high in itertools.pairwise(bounds)
        ]
        assert counter.counts[index, : feature.bin_count].tolist() == expected
        assert counter.counts[index, feature.bin_count :].sum() == 0
    assert counter.sums == pytest.approx(rows.sum(axis=0))


def test_psi_and_ks_arithmetic() -> None:
    shares = [0.25, 0.25, 0.25, 0.25]
    assert psi([25, 25, 25, 25], shares) == 0
    assert psi([0, 0, 0, 0], shares) == 0
    shifted = psi([0, 0, 50, 50], shares)
    expected = 2 * (0.5 - 0.25) * np.log(0.5 / 0.25) + 2 * (1e-4 - 0.25) * np.log(1e-4 / 0.25)
    assert shifted == pytest.approx(expected)
    assert ks_distance([0, 0, 50, 50], shares) == pytest.approx(0.5)


def test_finite_values_whose_sum_overflows_are_accepted() -> None:
    parsed = parse_v2_request(
        {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 2], "data": [1.7e308, 1.7e308]}]}, 2, 10
    )
    assert (parsed.values, parsed.rows) == ([1.7e308, 1.7e308], 1)


def test_csv_that_is_not_text_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        parse_csv(b"\xff\xfe", 2, 10)
    assert caught.value.reason == "non_numeric"


ACCESS_TRACE = (int("0af7651916cd43dd8448eb211c80319c", 16), 0xB7AD6B7169203331, True)


def _request(request_id: str) -> Request:
    """A request as the server builds it from a scope, before its body is read."""

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    return Request(receive, request_id, b"application/json", 0, 1024)


# Every shape of access-log line (with or without rows, trace, features), unusual methods among
# them, queued in an order that interleaves shapes: one flush must keep the order and every field.
ACCESS_LINES = [
    {"method": method, "rows": rows, "trace": trace, "features": features, "status": status}
    for method, status in (("POST", 200), ("GET", 404), ('WEIRD"\\', 405))
    for rows, features in ((0, None), (2, None), (5_000, None), (2, [1.5, float("1e300")]))
    for trace in (None, ACCESS_TRACE)
]


def test_every_access_log_line_is_one_json_object_with_every_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """The access log formats a flush's lines from templates, a run of same-shaped lines at a
    time: whatever the shapes and their order, each line parses as JSON, in the order queued, and
    says everything it was given."""
    import asyncio
    import io
    import json

    from model_service import logs

    clock = iter([1_795_636_394.6651876, 1_795_636_395.0004, *[1_795_636_395.999] * len(ACCESS_LINES)])
    monkeypatch.setattr(logs.time, "time", lambda: next(clock))
    stream = io.StringIO()
    log = logs.AccessLog(stream=stream, log_features=True)
    log.version_json = '"v1"'

    async def queue_and_flush() -> None:
        for index, line in enumerate(ACCESS_LINES):
            request = _request(f"req-{index}")
            request.rows, request.values = line["rows"], line["features"]
            if line["trace"]:
                request.trace = RequestTrace(*line["trace"], parent_span_id=None)
            log.request(request, line["method"], "/v2/models/{name}/infer", line["status"], 0.0012345)
        log.flush()

    asyncio.run(queue_and_flush())
    text = stream.getvalue()
    assert text.endswith("\n")
    parsed = [json.loads(line) for line in text.splitlines()]
    assert [entry["request_id"] for entry in parsed] == [f"req-{index}" for index in range(len(ACCESS_LINES))]
    assert [entry["timestamp"] for entry in parsed[:3]] == [
        "2026-11-25T19:53:14.665Z",
        "2026-11-25T19:53:15.000Z",
        "2026-11-25T19:53:15.999Z",
    ]
    for given, entry in zip(ACCESS_LINES, parsed, strict=True):
        assert (entry["method"], entry["status"], entry["latency_ms"], entry["model_version"]) == (
            given["method"],
            given["status"],
            1.234,
            "v1",
        )
        assert (entry["level"], entry["message"], entry["route"]) == ("info", "request", "/v2/models/{name}/infer")
        assert entry.get("rows", 0) == given["rows"] and entry.get("features") == given["features"]
        if given["trace"]:
            assert entry["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
            assert entry["span_id"] == "b7ad6b7169203331" and entry["trace_sampled"] is True
        else:
            assert "trace_id" not in entry and "span_id" not in entry


def _logged(lines: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Queue access-log lines (keys: method, route, status, version, rows, trace, at) and flush once."""
    import io
    import json

    from model_service import logs

    clock = iter([line["at"] for line in lines])
    monkeypatch.setattr(logs.time, "time", lambda: next(clock))
    stream = io.StringIO()
    log = logs.AccessLog(stream=stream)

    async def queue_and_flush() -> None:
        for index, line in enumerate(lines):
            request = _request(f"req-{index}")
            request.rows = line["rows"]
            if line["trace"]:
                request.trace = RequestTrace(*line["trace"], parent_span_id=None)
            log.version_json = line["version"]
            log.request(request, line["method"], line["route"], line["status"], 0.0012345)
        log.flush()

    asyncio.run(queue_and_flush())
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_values_shared_by_a_run_of_lines_are_written_once_and_a_line_that_differs_keeps_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The render writes a value that every line of a run shares into the run's template: for
    each such value, a run where one line in the middle differs must still say that line's own
    value, and every other line the shared one."""
    usual = {
        "method": "POST",
        "route": "/v2/models/{name}/infer",
        "status": 200,
        "version": '"v1"',
        "rows": 1,
        "trace": (7, 9, False),
    }
    odd = {"method": "PUT", "route": "/invocations", "status": 503, "version": '"v2"', "rows": 3, "trace": (7, 9, True)}
    lines = []
    for field in [None, *usual]:
        block = [dict(usual) for _ in range(4)]
        if field is not None:
            block[2][field] = odd[field]
        lines += block
        lines.append({**usual, "trace": None})  # another shape between blocks: a run ends
    # One run crosses a second, with a clock that steps back once.
    for index, line in enumerate(lines):
        line["at"] = 1_795_636_394.990 + [0, 0.005, 0.012, 0.003, 0.020][index % 5]
    parsed = _logged(lines, monkeypatch)
    assert len(parsed) == len(lines)
    for given, entry in zip(lines, parsed, strict=True):
        assert (entry["method"], entry["route"], entry["status"], entry["model_version"], entry["rows"]) == (
            given["method"],
            given["route"],
            given["status"],
            given["version"].strip('"'),
            given["rows"],
        )
        if given["trace"]:
            assert (entry["trace_id"], entry["span_id"], entry["trace_sampled"]) == (
                f"{7:032x}",
                f"{9:016x}",
                given["trace"][2],
            )
        else:
            assert "trace_id" not in entry
    stamps = [entry["timestamp"] for entry in parsed[:5]]
    assert stamps == [
        "2026-11-25T19:53:14.990Z",
        "2026-11-25T19:53:14.995Z",
        "2026-11-25T19:53:15.002Z",
        "2026-11-25T19:53:14.993Z",
        "2026-11-25T19:53:15.010Z",
    ]


def test_runs_with_more_distinct_shared_values_than_the_template_cache_holds_are_all_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from model_service import logs

    base = {"method": "POST", "route": "/r", "status": 200, "version": "null", "at": 1_795_636_394.5}
    lines = [
        {**base, "rows": rows, "trace": (5, 6, False) if index % 2 else None}
        for index, rows in enumerate(range(1, 2 * logs._MAX_RUN_TEMPLATES + 100))
    ]
    parsed = _logged(lines, monkeypatch)
    assert [entry["rows"] for entry in parsed] == [line["rows"] for line in lines]
    assert ["trace_id" in entry for entry in parsed] == [line["trace"] is not None for line in lines]
    assert 0 < len(logs._RUN_TEMPLATES) <= logs._MAX_RUN_TEMPLATES


def test_a_disabled_access_log_queues_and_writes_nothing() -> None:
    import asyncio
    import io

    from model_service.logs import AccessLog

    stream = io.StringIO()
    log = AccessLog(stream=stream, enabled=False)

    async def log_one() -> None:
        request = _request("req-1")
        request.rows = 1
        log.request(request, "POST", "/v2/models/{name}/infer", 200, 0.001)
        log.flush()

    asyncio.run(log_one())
    assert stream.getvalue() == ""

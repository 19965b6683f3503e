"""Production data kept in S3 (moto stands in for S3): the bounded asynchronous writer, its
failures and shutdown, and the real server capturing requests and labels end to end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer
from sklearn.datasets import load_wine

from model_service.capture import (
    DROPPED_BUFFER_FULL,
    DROPPED_UPLOAD_FAILED,
    S3JsonLinesWriter,
    WriterSettings,
)
from tests.support.model_server import free_port, start_server

WINE = load_wine()
BUCKET = "capture-bucket"
HOUR = 1_795_000_000.0  # 2026-11-18 10:13 UTC


class Drops:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, reason: str, lines: int) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + lines


def _objects(client: Any, prefix: str = "") -> dict[str, list[dict[str, Any]]]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {
        item["Key"]: [
            json.loads(line) for line in client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().splitlines()
        ]
        for item in listed
    }


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _writer(client: Any, drops: Drops, **settings: Any) -> S3JsonLinesWriter:
    options = {"max_buffer_bytes": 1 << 20, "flush_seconds": 60.0, "backoff_seconds": 0.0, **settings}
    return S3JsonLinesWriter(
        WriterSettings(f"s3://{BUCKET}/capture/pods", **options), "pod-a-1", client, drops, clock=lambda: HOUR
    )


def test_lines_reach_hourly_objects_and_a_full_object_splits(s3: Any) -> None:
    drops = Drops()

    async def scenario() -> None:
        writer = _writer(s3, drops, max_object_bytes=200)
        for index in range(10):
            writer.record({"n": index, "pad": "x" * 30})
        await writer.flush()

    asyncio.run(scenario())
    objects = _objects(s3)
    assert all(key.startswith("capture/pods/2026/11/18/") and key.endswith(".jsonl") for key in objects)
    assert len(objects) > 1  # split at 200 bytes an object
    lines = [line["n"] for key in sorted(objects) for line in objects[key]]
    assert lines == list(range(10)) and drops.counts == {}


def test_a_full_buffer_drops_and_counts_instead_of_growing(s3: Any) -> None:
    drops = Drops()

    async def scenario() -> None:
        writer = _writer(s3, drops, max_buffer_bytes=1000)
        for index in range(100):
            writer.record({"n": index, "pad": "x" * 40})
        await writer.flush()

    asyncio.run(scenario())
    stored = sum(len(lines) for lines in _objects(s3).values())
    assert drops.counts[DROPPED_BUFFER_FULL] == 100 - stored and 0 < stored < 100


class FlakyS3:
    """S3 that fails the first `failures` uploads (as a throttled or unreachable S3 does)."""

    def __init__(self, client: Any, failures: int) -> None:
        self.client, self.failures, self.calls = client, failures, 0

    def put_object(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("S3 unreachable")
        return self.client.put_object(**kwargs)


def test_a_failed_upload_is_retried_then_dropped_and_counted(s3: Any) -> None:
    drops = Drops()
    recovered, hopeless = FlakyS3(s3, failures=2), FlakyS3(s3, failures=100)

    async def scenario() -> None:
        first = _writer(recovered, drops, upload_attempts=4)
        first.record({"n": 1})
        await first.flush()
        second = _writer(hopeless, drops, upload_attempts=3)
        second.record({"n": 2})
        second.record({"n": 3})
        await second.flush()

    asyncio.run(scenario())
    assert recovered.calls == 3 and hopeless.calls == 3
    assert [line["n"] for lines in _objects(s3).values() for line in lines] == [1]
    assert drops.counts == {DROPPED_UPLOAD_FAILED: 2}


def test_close_uploads_what_is_buffered(s3: Any) -> None:
    drops = Drops()

    async def scenario() -> None:
        writer = _writer(s3, drops, flush_seconds=3600)
        writer.start()
        for index in range(5):
            writer.record({"n": index})
        await writer.close(timeout=5)

    asyncio.run(scenario())
    assert sorted(line["n"] for lines in _objects(s3).values() for line in lines) == list(range(5))


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    ).create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


def test_the_server_captures_requests_and_keeps_labels_through_sigterm(
    artifact: Path, tmp_path: Path, moto_s3: str
) -> None:
    aws = {
        "AWS_ENDPOINT_URL_S3": moto_s3,
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    server = start_server(
        tmp_path / "server.log",
        MODEL_DIR=str(artifact),
        CAPTURE_URI=f"s3://{BUCKET}/cluster/model-service",
        CAPTURE_SAMPLE_PERCENT="100",
        GROUND_TRUTH_URI=f"s3://{BUCKET}/ground-truth",
        STORE_FLUSH_SECONDS="3600",  # nothing is uploaded before shutdown: SIGTERM must flush it
        SHUTDOWN_DRAIN_SECONDS="0",
        **aws,
    )
    rows = [WINE.data[i].tolist() for i in (0, 70, 150)]
    with server.client() as client:
        answers = [
            client.post("/invocations", json=[row], headers={"x-request-id": f"req-{i}"}) for i, row in enumerate(rows)
        ]
        for answer in answers[:2]:
            labelled = client.post("/feedback", json={"feedback_id": answer.json()["feedback_id"], "label": 0})
            assert labelled.status_code == 200
        metrics = client.get("/metrics").text
    assert 'model_stored_records_total{stream="capture"} 3.0' in metrics
    assert 'model_stored_records_total{stream="ground_truth"} 2.0' in metrics
    assert "model_label_delay_seconds_count 2.0" in metrics
    assert server.stop() == 0
    s3 = boto3.client(
        "s3", endpoint_url=moto_s3, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    captured = [line for lines in _objects(s3, "cluster/").values() for line in lines]
    assert sorted(line["eventMetadata"]["eventId"] for line in captured) == ["req-0", "req-1", "req-2"]
    first = next(line for line in captured if line["eventMetadata"]["eventId"] == "req-0")
    inputs = json.loads(first["captureData"]["endpointInput"]["data"])
    outputs = json.loads(first["captureData"]["endpointOutput"]["data"])
    assert inputs == {"instances": [rows[0]]} and first["captureData"]["endpointInput"]["mode"] == "INPUT"
    assert outputs["feedback_id"] == answers[0].json()["feedback_id"]
    assert outputs["predictions"][0]["label"] == "class_0"
    labels = [line for lines in _objects(s3, "ground-truth/").values() for line in lines]
    assert {line["feedback_id"] for line in labels} == {answer.json()["feedback_id"] for answer in answers[:2]}
    assert all(line["labels"] == ["class_0"] and 0 <= line["label_delay_seconds"] < 60 for line in labels)
    assert sorted(line["predicted"][0] for line in labels) == ["class_0", "class_1"]

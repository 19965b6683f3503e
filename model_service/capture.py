"""Production data kept durably: sampled requests with their predictions (data capture) and the
labels sent to /feedback (ground truth), as JSON Lines objects in S3.

Capture records use SageMaker's data-capture layout (`captureData.endpointInput/endpointOutput`,
`eventMetadata`), so that what the pods capture and what a SageMaker endpoint captures read the
same way. Objects are partitioned by hour (`<prefix>/<yyyy>/<mm>/<dd>/<hh>/<writer>-<n>.jsonl`).

Writing never sits on a request's path: `record()` appends one serialised line to a buffer that is
bounded in bytes, and a background task uploads the buffer every `flush_seconds` (or sooner when a
batch is full) from a worker thread. An upload that fails is retried with backoff, then dropped;
a line that finds the buffer full is dropped at once. Every dropped line is counted by reason.
On shutdown the buffer is flushed within the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from model_service.capture_format import capture_record as capture_record_layout
from model_service.logs import rfc3339
from model_service.metrics import ServiceMetrics
from model_service.settings import Settings

log = logging.getLogger("model_service")

# Why a line was not stored (bounded metric label values; monitoring.names.CAPTURE_DROP_REASONS).
DROPPED_BUFFER_FULL = "buffer_full"
DROPPED_UPLOAD_FAILED = "upload_failed"

OnDropped = Callable[[str, int], None]


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix without trailing slash) of `s3://bucket/prefix`."""
    if not uri.startswith("s3://"):
        raise ValueError(f"expected s3://bucket/prefix, got {uri!r}")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"expected s3://bucket/prefix, got {uri!r}")
    return bucket, prefix.strip("/")


@dataclass(frozen=True)
class WriterSettings:
    uri: str
    max_buffer_bytes: int
    flush_seconds: float
    upload_attempts: int = 4
    backoff_seconds: float = 0.5
    # Uploads carry at most this much; a fuller buffer is uploaded in several objects.
    max_object_bytes: int = 8 * 1024 * 1024


class S3JsonLinesWriter:
    """A bounded, asynchronous writer of JSON lines to hourly S3 objects."""

    def __init__(
        self,
        settings: WriterSettings,
        name: str,
        s3_client: Any,
        on_dropped: OnDropped | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.bucket, self.prefix = parse_s3_uri(settings.uri)
        self.name = name
        self._s3 = s3_client
        self._on_dropped = on_dropped or (lambda reason, count: None)
        self._clock = clock
        self._lines: list[bytes] = []
        self._bytes = 0
        self._objects = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self.stored_lines = 0

    # -- the request path ------------------------------------------------------------------

    def record(self, document: dict[str, Any]) -> bool:
        """Queue one line (never blocks, never raises for S3's sake); False if it was dropped."""
        line = orjson.dumps(document) + b"\n"
        if self._bytes + len(line) > self.settings.max_buffer_bytes:
            self._on_dropped(DROPPED_BUFFER_FULL, 1)
            return False
        self._lines.append(line)
        self._bytes += len(line)
        if self._bytes >= self.settings.max_object_bytes:
            self._wake.set()
        return True

    # -- the background task ----------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.flush_seconds)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Upload what is buffered now, one object per `max_object_bytes`."""
        while self._lines:
            lines, size = self._take()
            await self._upload(lines, size)

    def _take(self) -> tuple[list[bytes], int]:
        """The oldest lines that fit in one object (at least one), removed from the buffer."""
        size = count = 0
        for line in self._lines:
            if count and size + len(line) > self.settings.max_object_bytes:
                break
            size += len(line)
            count += 1
        taken = self._lines[:count]
        del self._lines[:count]
        self._bytes -= size
        return taken, size

    async def _upload(self, lines: list[bytes], size: int) -> None:
        key = self._key()
        body = b"".join(lines)
        for attempt in range(1, self.settings.upload_attempts + 1):
            try:
                await asyncio.to_thread(self._s3.put_object, Bucket=self.bucket, Key=key, Body=body)
            except Exception as error:  # botocore raises many unrelated types; all mean "not stored"
                if attempt == self.settings.upload_attempts:
                    log.error(
                        "dropping captured lines: upload failed",
                        extra={"key": key, "lines": len(lines), "bytes": size, "error": str(error)},
                    )
                    self._on_dropped(DROPPED_UPLOAD_FAILED, len(lines))
                    return
                await asyncio.sleep(self.settings.backoff_seconds * 2 ** (attempt - 1))
            else:
                self.stored_lines += len(lines)
                return

    def _key(self) -> str:
        self._objects += 1
        hour = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y/%m/%d/%H")
        prefix = f"{self.prefix}/" if self.prefix else ""
        return f"{prefix}{hour}/{self.name}-{self._objects:06d}.jsonl"

    async def close(self, timeout: float) -> None:
        """Stop the background task and upload what is left, within `timeout` seconds."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=timeout)
            except TimeoutError:
                self._task.cancel()
        try:
            await asyncio.wait_for(self.flush(), timeout=timeout)
        except TimeoutError:
            self._on_dropped(DROPPED_UPLOAD_FAILED, len(self._lines))
            log.error("dropping captured lines: shutdown deadline", extra={"lines": len(self._lines)})


def writer_name() -> str:
    """Unique per process: the pod name (HOSTNAME on Kubernetes) and the process id."""
    return f"{os.environ.get('HOSTNAME', 'local')}-{os.getpid()}"


@dataclass(frozen=True)
class Served:
    """One served request, as the capture keeps it."""

    request_id: str
    rows: list[list[float]]
    model_version: str
    labels: list[str]
    probabilities: list[list[float]]
    feedback_id: str
    at: float


def capture_record(served: Served) -> dict[str, Any]:
    """One request and its predictions in SageMaker's data-capture layout."""
    request = orjson.dumps({"instances": served.rows}).decode()
    response = orjson.dumps(
        {
            "model_version": served.model_version,
            "feedback_id": served.feedback_id,
            "predictions": [
                {"label": label, "probabilities": probs}
                for label, probs in zip(served.labels, served.probabilities, strict=True)
            ],
        }
    ).decode()
    return capture_record_layout(request, response, event_id=served.request_id, inference_time=rfc3339(served.at))


class ProductionData:
    """The two streams a server keeps: a sample of requests (capture) and every label
    (ground truth). Either may be off (no URI); `metrics` counts what is queued and dropped."""

    def __init__(
        self, settings: Settings, metrics: ServiceMetrics, s3_client_factory: Callable[[], Any] | None = None
    ) -> None:
        self.sample_share = settings.capture_sample_percent / 100
        self.capture: S3JsonLinesWriter | None = None
        self.ground_truth: S3JsonLinesWriter | None = None
        self._metrics = metrics
        self._random = random.Random()
        uris = {"capture": settings.capture_uri if self.sample_share else "", "ground_truth": settings.ground_truth_uri}
        if not any(uris.values()):
            return
        client = (s3_client_factory or _default_s3_client)()
        for stream, uri in uris.items():
            if uri:
                writer = S3JsonLinesWriter(
                    WriterSettings(uri, settings.store_buffer_bytes(), settings.store_flush_seconds),
                    writer_name(),
                    client,
                    on_dropped=self._dropped_counter(stream),
                )
                setattr(self, stream, writer)

    def _dropped_counter(self, stream: str) -> OnDropped:
        def count(reason: str, lines: int) -> None:
            self._metrics.store_dropped.labels(stream, reason).inc(lines)

        return count

    def start(self) -> None:
        for writer in (self.capture, self.ground_truth):
            if writer is not None:
                writer.start()

    async def close(self, timeout: float) -> None:
        for writer in (self.capture, self.ground_truth):
            if writer is not None:
                await writer.close(timeout)

    def maybe_capture(self, build: Callable[[], dict[str, Any]]) -> None:
        """Queue the record `build` makes, for the sampled share of requests."""
        if self.capture is not None and self._random.random() < self.sample_share and self.capture.record(build()):
            self._metrics.stored.labels("capture").inc()

    def label(self, document: dict[str, Any]) -> None:
        if self.ground_truth is not None and self.ground_truth.record(document):
            self._metrics.stored.labels("ground_truth").inc()


def _default_s3_client() -> Any:
    """boto3's S3 client; AWS_ENDPOINT_URL_S3 points it at another S3 (MinIO, moto)."""
    import boto3

    return boto3.client("s3")

"""Server settings from environment variables, with documented defaults and clear errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

# A parsed JSON body takes up to this many times its size in Python objects (measured with
# tracemalloc: a list of empty objects, the worst kind, takes 36x; tests/service/test_limits.py).
BODY_EXPANSION = 40
# Share of the container memory limit that requests in flight may use; the rest is the model,
# the interpreter, metrics and headroom.
MEMORY_LIMIT_SHARE = 0.4
DEFAULT_REQUEST_MEMORY_BYTES = 256 * 1024 * 1024
REPLAY_CACHE_SHARE = 0.02
DEFAULT_REPLAY_CACHE_BYTES = 8 * 1024 * 1024
STORE_BUFFER_SHARE = 0.03
DEFAULT_STORE_BUFFER_BYTES = 16 * 1024 * 1024


class SettingsError(ValueError):
    """An environment variable has a value the server cannot use."""


@dataclass(frozen=True)
class Settings:
    model_dir: Path = Path("/opt/ml/model")
    model_uri: str = ""
    model_workdir: Path = Path("/tmp/model-service")
    host: str = "0.0.0.0"
    port: int = 8080
    max_batch_size: int = 32
    max_batch_wait_ms: float = 2.0
    max_body_bytes: int = 1_048_576
    max_rows_per_request: int = 1024
    # HTTP limits: every buffer a client can fill is bounded, every wait has a deadline.
    max_header_bytes: int = 16_384
    max_headers: int = 64
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    max_connections: int = 1024
    max_concurrency: int = 256
    # Bytes of request bodies (times their parsed expansion) allowed in flight at once; 0 derives
    # it from MEMORY_LIMIT_BYTES (the container limit, from the downward API).
    request_memory_bytes: int = 0
    memory_limit_bytes: int = 0
    # Feedback: ids are signed with this key (base64 or text, 32+ bytes; from a Kubernetes Secret
    # shared by every replica); empty: a random key per process, valid on this replica only.
    feedback_signing_key: str = ""
    # The credential /feedback requires (`Authorization: Bearer <token>`); empty: /feedback is off.
    feedback_token: str = ""
    feedback_max_age_seconds: int = 7 * 24 * 3600
    # Features further than this many training ranges outside the training range are refused.
    feature_range_tolerance: float = 10.0
    # Production data kept in S3 (model_service.capture): a sample of requests with their
    # predictions, and every label sent to /feedback. Empty URIs keep nothing.
    capture_uri: str = ""
    capture_sample_percent: float = 0.0
    ground_truth_uri: str = ""
    store_flush_seconds: float = 10.0
    model_load_attempts: int = 5
    model_load_backoff_seconds: float = 1.0
    # After SIGTERM: readiness answers 503 for this long while requests are still served...
    shutdown_drain_seconds: float = 3.0
    # ...then in-flight requests get this long to finish.
    graceful_shutdown_seconds: int = 20
    log_level: str = "INFO"
    log_features: bool = False
    access_log: bool = True
    # Prediction counts, confidence and per-feature drift histograms (the request and batch
    # metrics, rate, errors, latency, batch size and model call time, are always on).
    model_metrics: bool = True
    # Traces go to this OTLP/HTTP collector (Alloy in the cluster); empty: no tracing at all.
    otel_exporter_otlp_endpoint: str = ""
    # Share of new traces sampled; a caller's sampled traceparent is always continued.
    trace_sample_ratio: float = 0.01

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read `MODEL_DIR`, `PORT`, ... (each field's name in upper case)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            name = field.name.upper()
            if name not in environ:
                continue
            raw = environ[name]
            default = field.default
            try:
                if isinstance(default, bool):
                    if raw.lower() not in ("true", "false", "1", "0"):
                        raise ValueError("expected true or false")
                    values[field.name] = raw.lower() in ("true", "1")
                elif isinstance(default, int):
                    values[field.name] = int(raw)
                elif isinstance(default, float):
                    values[field.name] = float(raw)
                elif isinstance(default, Path):
                    values[field.name] = Path(raw)
                else:
                    values[field.name] = raw
            except ValueError as error:
                raise SettingsError(f"{name}={raw!r}: {error}") from error
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        checks = [
            (1 <= self.port <= 65535, "PORT", self.port, "a port number 1-65535"),
            (1 <= self.max_batch_size <= 4096, "MAX_BATCH_SIZE", self.max_batch_size, "1 to 4096 rows"),
            (0 <= self.max_batch_wait_ms <= 1000, "MAX_BATCH_WAIT_MS", self.max_batch_wait_ms, "0 to 1000 ms"),
            (self.max_body_bytes >= 1024, "MAX_BODY_BYTES", self.max_body_bytes, "at least 1024"),
            (self.max_rows_per_request >= 1, "MAX_ROWS_PER_REQUEST", self.max_rows_per_request, "at least 1"),
            (self.max_header_bytes >= 1024, "MAX_HEADER_BYTES", self.max_header_bytes, "at least 1024"),
            (1 <= self.max_headers <= 1000, "MAX_HEADERS", self.max_headers, "1 to 1000"),
            (
                0 < self.header_timeout_seconds <= 300,
                "HEADER_TIMEOUT_SECONDS",
                self.header_timeout_seconds,
                "more than 0 and at most 300",
            ),
            (
                0 < self.body_timeout_seconds <= 600,
                "BODY_TIMEOUT_SECONDS",
                self.body_timeout_seconds,
                "more than 0 and at most 600",
            ),
            (self.max_connections >= 1, "MAX_CONNECTIONS", self.max_connections, "at least 1"),
            (self.max_concurrency >= 1, "MAX_CONCURRENCY", self.max_concurrency, "at least 1"),
            (self.request_memory_bytes >= 0, "REQUEST_MEMORY_BYTES", self.request_memory_bytes, "0 or more"),
            (self.memory_limit_bytes >= 0, "MEMORY_LIMIT_BYTES", self.memory_limit_bytes, "0 or more"),
            (
                not self.feedback_signing_key or len(self.feedback_signing_key) >= 32,
                "FEEDBACK_SIGNING_KEY",
                "<secret>",
                "empty or at least 32 characters",
            ),
            (
                not self.feedback_token or len(self.feedback_token) >= 16,
                "FEEDBACK_TOKEN",
                "<secret>",
                "empty or at least 16 characters",
            ),
            (
                self.feedback_max_age_seconds >= 60,
                "FEEDBACK_MAX_AGE_SECONDS",
                self.feedback_max_age_seconds,
                "at least 60",
            ),
            (
                self.feature_range_tolerance >= 0,
                "FEATURE_RANGE_TOLERANCE",
                self.feature_range_tolerance,
                "0 or more",
            ),
            (
                not self.capture_uri or self.capture_uri.startswith("s3://"),
                "CAPTURE_URI",
                self.capture_uri,
                "empty or s3://bucket/prefix",
            ),
            (
                not self.ground_truth_uri or self.ground_truth_uri.startswith("s3://"),
                "GROUND_TRUTH_URI",
                self.ground_truth_uri,
                "empty or s3://bucket/prefix",
            ),
            (
                0 <= self.capture_sample_percent <= 100,
                "CAPTURE_SAMPLE_PERCENT",
                self.capture_sample_percent,
                "0 to 100",
            ),
            (0 < self.store_flush_seconds <= 3600, "STORE_FLUSH_SECONDS", self.store_flush_seconds, "0 to 3600"),
            (1 <= self.model_load_attempts <= 100, "MODEL_LOAD_ATTEMPTS", self.model_load_attempts, "1 to 100"),
            (
                0 <= self.model_load_backoff_seconds <= 300,
                "MODEL_LOAD_BACKOFF_SECONDS",
                self.model_load_backoff_seconds,
                "0 to 300",
            ),
            (
                0 <= self.shutdown_drain_seconds <= 300,
                "SHUTDOWN_DRAIN_SECONDS",
                self.shutdown_drain_seconds,
                "0 to 300",
            ),
            (
                self.graceful_shutdown_seconds >= 0,
                "GRACEFUL_SHUTDOWN_SECONDS",
                self.graceful_shutdown_seconds,
                "0 or more seconds",
            ),
            (
                self.log_level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"),
                "LOG_LEVEL",
                self.log_level,
                "DEBUG, INFO, WARNING or ERROR",
            ),
            (
                not self.otel_exporter_otlp_endpoint
                or self.otel_exporter_otlp_endpoint.startswith(("http://", "https://")),
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                self.otel_exporter_otlp_endpoint,
                "empty or an http(s):// URL of an OTLP/HTTP collector",
            ),
            (0 <= self.trace_sample_ratio <= 1, "TRACE_SAMPLE_RATIO", self.trace_sample_ratio, "0 to 1"),
            (
                not self.model_uri or self.model_uri.startswith("s3://"),
                "MODEL_URI",
                self.model_uri,
                "empty or s3://bucket/key",
            ),
        ]
        for ok, name, value, allowed in checks:
            if not ok:
                shown = value if value == "<secret>" else repr(value)
                raise SettingsError(f"{name}={shown}: must be {allowed}")
        budget = self.request_budget_bytes()
        if budget < self.max_body_bytes * BODY_EXPANSION:
            raise SettingsError(
                f"the request memory budget ({budget} bytes, from REQUEST_MEMORY_BYTES or MEMORY_LIMIT_BYTES) "
                f"cannot hold one request of MAX_BODY_BYTES={self.max_body_bytes} parsed "
                f"({BODY_EXPANSION}x): raise the memory limit or lower MAX_BODY_BYTES"
            )

    def replay_cache_bytes(self) -> int:
        """Memory for remembering which feedback ids were scored (a share of the memory limit)."""
        if self.memory_limit_bytes:
            return int(self.memory_limit_bytes * REPLAY_CACHE_SHARE)
        return DEFAULT_REPLAY_CACHE_BYTES

    def store_buffer_bytes(self) -> int:
        """Memory each S3 stream may buffer before it drops lines (a share of the memory limit)."""
        if self.memory_limit_bytes:
            return int(self.memory_limit_bytes * STORE_BUFFER_SHARE)
        return DEFAULT_STORE_BUFFER_BYTES

    def request_budget_bytes(self) -> int:
        """Memory that request bodies and their parsed form may hold at once: REQUEST_MEMORY_BYTES,
        else a share of the container's memory limit, else a fixed default."""
        if self.request_memory_bytes:
            return self.request_memory_bytes
        if self.memory_limit_bytes:
            return int(self.memory_limit_bytes * MEMORY_LIMIT_SHARE)
        return DEFAULT_REQUEST_MEMORY_BYTES

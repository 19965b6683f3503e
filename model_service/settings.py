"""Server settings from environment variables, with documented defaults and clear errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path


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
    feedback_capacity: int = 100_000
    graceful_shutdown_seconds: int = 20
    log_level: str = "INFO"
    log_features: bool = False
    access_log: bool = True

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
            (self.feedback_capacity >= 0, "FEEDBACK_CAPACITY", self.feedback_capacity, "0 or more"),
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
                not self.model_uri or self.model_uri.startswith("s3://"),
                "MODEL_URI",
                self.model_uri,
                "empty or s3://bucket/key",
            ),
        ]
        for ok, name, value, allowed in checks:
            if not ok:
                raise SettingsError(f"{name}={value!r}: must be {allowed}")

"""Fixtures of the service tests: one shared server process per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.model_server import RunningServer, start_server


@pytest.fixture(scope="module")
def server(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("server") / "server.log",
        MODEL_DIR=str(artifact),
        MAX_BODY_BYTES="65536",
        MAX_ROWS_PER_REQUEST="64",
    )
    yield running
    running.stop()

"""The server the interop tests drive: the defaults a deployment runs with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.model_server import RunningServer, start_server


@pytest.fixture(scope="module")
def server(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("interop") / "server.log", MODEL_DIR=str(artifact))
    yield running
    running.stop()

"""The real server driven by Open Inference Protocol clients the project did not write:
tritonclient's HTTP client (JSON, and its default binary tensor data extension) and KServe's REST
client. They run from .venv-clients (`make setup`), in a process of their own."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from sklearn.datasets import load_wine

from tests.support.model_server import RunningServer

REPO = Path(__file__).resolve().parents[2]
CLIENTS_PYTHON = REPO / ".venv-clients" / "bin" / "python"
WINE = load_wine()


@pytest.fixture(scope="module")
def report(server: RunningServer) -> dict[str, dict[str, object]]:
    if not CLIENTS_PYTHON.exists():
        message = "the Open Inference Protocol clients are not installed; install them with: make setup"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI's `make test` creates .venv-clients)")
        pytest.skip(message)
    result = subprocess.run(
        [str(CLIENTS_PYTHON), str(Path(__file__).with_name("oip_clients.py")), server.url, "wine-classifier"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("client", ["triton_json", "triton_binary", "kserve"])
def test_each_client_gets_the_predictions(report: dict[str, dict[str, object]], client: str) -> None:
    answer = report[client]
    assert answer["live"] is True and answer["model_ready"] is True
    assert answer["labels"] == [0, 1, 2]  # three rows, one of each class (see oip_clients.ROWS)
    probabilities = answer["probabilities"]
    assert isinstance(probabilities, list) and len(probabilities) == 3
    assert all(abs(sum(row) - 1) < 1e-9 for row in probabilities)
    assert answer["id"] == ("kserve-1" if client == "kserve" else "triton-1")


def test_triton_client_metadata_and_class_names(report: dict[str, dict[str, object]]) -> None:
    for mode in ("triton_json", "triton_binary"):
        answer = report[mode]
        assert answer["class_names"] == ["class_0", "class_1", "class_2"]
        assert answer["metadata_inputs"][0]["shape"] == [-1, 13]  # type: ignore[index]
        assert answer["default_labels"] == [0, 1, 2]
        assert str(answer["feedback_id"]).startswith("f1.")
    assert report["triton_json"]["binary_outputs"] == []
    assert report["triton_binary"]["binary_outputs"] == ["class_name", "label", "probabilities"]


def test_binary_and_json_give_the_same_probabilities(report: dict[str, dict[str, object]]) -> None:
    assert report["triton_binary"]["probabilities"] == report["triton_json"]["probabilities"]
    assert report["kserve"]["probabilities"] == report["triton_json"]["probabilities"]

"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_service.training import TrainingOptions, train


@pytest.fixture(scope="session")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trained model artifact for the whole session."""
    return train(TrainingOptions(output=tmp_path_factory.mktemp("models")))

"""External programs the tests need: a missing one skips the test on a user's machine, with the
command that installs it, and fails it in CI, where `.ci/run` must have installed it."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str, install: str) -> str:
    """Path of the program `name`; skip (locally) or fail (CI) with `install` as the fix."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed; install it with: {install}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI installs every tool the suite needs: see .ci/run)")
    pytest.skip(message)

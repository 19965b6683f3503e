"""Each stack's whole cluster, rendered once per test session (tests/support/cluster_render.py)."""

from __future__ import annotations

import pytest

from tests.support.cluster_render import Cluster, render_stack

STACKS = ("local", "dev", "prod")


@pytest.fixture(scope="session", params=STACKS)
def cluster(request: pytest.FixtureRequest) -> Cluster:
    return render_stack(request.param)

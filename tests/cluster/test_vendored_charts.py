"""The vendored chart archives are exactly the ones recorded: sha256, name and version match
components/vendored_charts.py, every archive is recorded, and every release installs one of them."""

from __future__ import annotations

import hashlib
import tarfile

import pytest
import yaml

from components.vendored_charts import ALL, VENDOR, VendoredChart
from tests.support.cluster_render import render_stack


@pytest.mark.parametrize("chart", ALL, ids=lambda chart: chart.name)
def test_each_archive_is_the_recorded_release(chart: VendoredChart) -> None:
    assert hashlib.sha256(chart.archive.read_bytes()).hexdigest() == chart.sha256
    with tarfile.open(chart.archive) as archive:
        metadata = yaml.safe_load(archive.extractfile(f"{chart.name}/Chart.yaml").read())  # type: ignore[union-attr]
    assert (metadata["name"], metadata["version"]) == (chart.name, chart.version)


def test_nothing_unrecorded_is_vendored() -> None:
    assert {path.name for path in VENDOR.glob("*.tgz")} == {chart.archive.name for chart in ALL}


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_every_release_installs_a_vendored_archive_or_this_repos_chart(stack: str) -> None:
    archives = {f"charts/vendor/{chart.archive.name}" for chart in ALL}
    for release in render_stack(stack).run.of_type("kubernetes:helm.sh/v3:Release"):
        inputs = release.inputs
        assert inputs["chart"] in archives | {"charts/model-service"}, inputs["chart"]
        assert "repositoryOpts" not in inputs

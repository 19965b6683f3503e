"""Drift that is right, fast: in rule time (promtool evaluates the rule file the chart ships on
traffic simulated with the pods' own bin counting), a one-standard-deviation shift of any single
feature after an hour of stationary traffic fires within 15 minutes, 40% wrong labels fire within
15 minutes, and hours of stationary traffic raise no alert (bench/drift_alerts.py)."""

from __future__ import annotations

from pathlib import Path

from bench.drift_alerts import run
from tests.support.tools import require_tool

TARGET_MINUTES = 15


def test_every_feature_shift_and_wrong_labels_fire_within_15_minutes_and_stationary_stays_quiet(
    artifact: Path,
) -> None:
    require_tool("promtool", "apt-get install prometheus (Debian/Ubuntu) or a Prometheus release")
    report = run(artifact, features=None, hours=3)
    assert report.pop("stationary") == {}, "a stationary stream raised drift or accuracy alerts"
    assert len(report) == 14  # thirteen features and the labels
    for scenario, result in report.items():
        assert isinstance(result, dict)
        assert result["fired_before_change"] == [], scenario
        assert result["delay_minutes"] is not None and result["delay_minutes"] <= TARGET_MINUTES, (scenario, result)

"""The load generator's locustfile, run by real Locust against the real model service, scraped by
a real Prometheus with the chart's rules: its traffic is served without a failure, its delayed
labels are scored, and with the drift switch on the project's drift alert goes pending or firing
for the shifted feature only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loadgen.rows import wine_rows_json
from tests.support.model_server import FEEDBACK_TOKEN, start_server
from tests.support.prometheus import prometheus_scraping
from tests.support.pulumi_harness import REPO

LOCUSTFILE = REPO / "loadgen" / "locustfile.py"


def _locust(host: str, rows: Path, seconds: int, **env: str) -> subprocess.CompletedProcess[str]:
    locust = shutil.which("locust", path=str(Path(sys.executable).parent))
    assert locust, "locust is a dev dependency: make setup installs it"
    environment = {
        **os.environ,
        "WINE_ROWS": str(rows),
        "FEEDBACK_TOKEN": FEEDBACK_TOKEN,
        "LABEL_DELAY_SECONDS": "1",
        "WAIT_SECONDS": "0.02",
        **env,
    }
    command = [locust, "-f", str(LOCUSTFILE), "--headless", "--users", "8", "--spawn-rate", "8"]
    command += ["--run-time", f"{seconds}s", "--host", host, "--only-summary", "--stop-timeout", "1"]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=seconds + 60)


def test_drifted_load_fires_the_drift_alert_for_the_shifted_feature_and_labels_are_scored(
    artifact: Path, tmp_path: Path
) -> None:
    rows = tmp_path / "wine.json"
    rows.write_text(wine_rows_json())
    service = start_server(tmp_path / "service.log", MODEL_DIR=str(artifact))
    try:
        with prometheus_scraping(service, tmp_path) as prometheus:

            def drift_alerts() -> list[dict[str, Any]]:
                return [a for a in prometheus.alerts() if a["labels"]["alertname"].startswith("ModelFeatureDrift")]

            steady = _locust(service.url, rows, 6, DRIFT="off")
            assert steady.returncode == 0, steady.stdout[-3000:] + steady.stderr[-3000:]  # 1 on any failure
            prometheus.wait_for("drift to be measured", lambda: prometheus.query("job_feature:model_feature_psi:10m"))
            time.sleep(3)
            assert drift_alerts() == [], "drift alert on steady traffic"
            drifted = _locust(service.url, rows, 8, DRIFT="on")
            assert drifted.returncode == 0, drifted.stdout[-3000:] + drifted.stderr[-3000:]

            prometheus.wait_for(
                "the drift alert", lambda: [a for a in drift_alerts() if a["labels"]["feature"] == "alcohol"]
            )
            time.sleep(2)
            assert {a["labels"]["feature"] for a in drift_alerts()} == {"alcohol"}
            scored = prometheus.query("sum(model_feedback_total)")
            assert scored and float(scored[0]["value"][1]) > 100
    finally:
        service.stop()

"""The Alertmanager configuration the Observability component writes, checked by Alertmanager's
own amtool: it loads, and alerts route to the receivers on-call expects."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from components.observability import Receivers, alertmanager_config
from tests.support.tools import require_tool

ALL_RECEIVERS = (
    Receivers(
        slack_channel="#ml-oncall",
        email_to="oncall@example.com",
        smtp_smarthost="smtp.example.com:587",
        smtp_from="alerts@example.com",
    ),
    {"slack": "https://hooks.slack.example/T0K3N", "smtp": "pw", "webhook": "https://pager.example/hook"},
)


@pytest.fixture(params=["every receiver", "no receiver"])
def config_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    receivers, secrets = ALL_RECEIVERS if request.param == "every receiver" else (Receivers(), {})
    path = tmp_path / "alertmanager.yaml"
    path.write_text(alertmanager_config(receivers, secrets))
    return path


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = require_tool("amtool", "apt-get install prometheus-alertmanager")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=30, check=False)


def test_alertmanager_accepts_the_configuration(config_file: Path) -> None:
    result = amtool("check-config", str(config_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=ModelFeatureDriftCritical", "severity=critical"], "critical"),
        (["alertname=ModelFeatureDriftWarning", "severity=warning"], "warning"),
        (["alertname=Watchdog", "severity=none"], "null"),
        (["alertname=InfoInhibitor", "severity=none"], "null"),
        (["alertname=SomethingUnlabelled"], "warning"),
    ],
)
def test_alerts_route_to_the_expected_receiver(config_file: Path, labels: list[str], receiver: str) -> None:
    result = amtool("config", "routes", "test", f"--config.file={config_file}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver

"""The Alertmanager configuration the Observability component writes, checked by Alertmanager's
own amtool: it loads, and alerts route to the receivers on-call expects."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

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


RELAY = "http://retrain-relay.monitoring.svc.cluster.local:8080/alerts"


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=ModelFeatureDriftCritical", "severity=critical"], "retrain,critical"),
        (["alertname=ModelAccuracyDrop", "severity=warning"], "retrain,warning"),
        (["alertname=ModelFeatureDriftWarning", "severity=warning"], "warning"),
        (["alertname=KubePodCrashLooping", "severity=warning"], "warning"),
    ],
)
def test_retrain_alerts_also_go_to_the_relay_with_its_token(tmp_path: Path, labels: list[str], receivers: str) -> None:
    """With a retrain repository, the drift and accuracy alerts reach the relay as well as
    on-call; nothing else does."""
    path = tmp_path / "alertmanager.yaml"
    text = alertmanager_config(ALL_RECEIVERS[0], {**ALL_RECEIVERS[1], "retrain": "relay-t0ken"}, RELAY)
    path.write_text(text)
    assert amtool("check-config", str(path)).returncode == 0
    result = amtool("config", "routes", "test", f"--config.file={path}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers
    relay = next(r for r in yaml.safe_load(text)["receivers"] if r["name"] == "retrain")["webhook_configs"][0]
    assert relay["url"] == RELAY and relay["send_resolved"] is False
    assert relay["http_config"]["authorization"] == {"type": "Bearer", "credentials": "relay-t0ken"}

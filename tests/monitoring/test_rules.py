"""The rule file monitoring/rules.py builds (as the chart ships it), checked and unit-tested by
promtool; every alert documented; every name it queries catalogued."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from monitoring.__main__ import RULE_FILE
from tests.support.runbooks import RUNBOOK_BASE_URL, runbook_anchors, runbook_section
from tests.support.tools import require_tool

RULES = RULE_FILE
TESTS = Path(__file__).resolve().parent / "model-service.test.yaml"


def alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("promtool", "apt-get install prometheus (Debian/Ubuntu) or a Prometheus release")
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=300, cwd=TESTS.parent)


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_case_and_a_quiet_case() -> None:
    cases = [case for group in yaml.safe_load(TESTS.read_text())["tests"] for case in group["alert_rule_test"]]
    for rule in alerts():
        name = rule["alert"]
        mine = [case for case in cases if case["alertname"] == name]
        assert any(case["exp_alerts"] for case in mine), f"{name} has no case where it fires"
        assert any(not case["exp_alerts"] for case in mine), f"{name} has no case where it stays quiet"


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule["alert"])
def test_alert_is_annotated_and_its_runbook_section_exists(rule: dict) -> None:
    annotations = rule["annotations"]
    assert annotations["summary"] and annotations["description"]
    assert rule["labels"]["severity"] in ("critical", "warning")
    url = annotations["runbook_url"]
    assert url.startswith(RUNBOOK_BASE_URL)
    anchor = url.rsplit("#", 1)[1]
    assert anchor in runbook_anchors(), f"docs/runbooks.md has no section #{anchor}"
    assert len(runbook_section(anchor).split()) > 20, f"the runbook section #{anchor} says too little"

"""scripts/canary-promotion.sh, the deploy workflow's promotion step: the real script and the
real `python -m delivery.canary`, with stand-ins on PATH for pulumi, kubectl, git and gh (they
record their calls) and a stand-in Prometheus answering the promotion step's queries. A healthy
canary is promoted and recorded; an error burst or a canary still undecided at the deadline is
rolled back (exit 1); no canary, nothing done; unreadable metrics stop before any change."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.support.model_server import free_port
from tests.support.pulumi_harness import REPO

STANDINS = {
    "pulumi": """case "$*" in
  "stack output kubeconfig"*) echo "apiVersion: v1" ;;
  "stack output prometheusService"*) echo "monitoring/kube-prometheus-stack-prometheus" ;;
esac""",
    "kubectl": "exec sleep 30",  # the port-forward: runs until the script ends it
    "git": "",
    "gh": "",
}
# track -> (requests, 5xx, p99 seconds, {class: predictions}) per scenario
SCENARIOS: dict[str, dict[str, tuple[float, float, float, dict[str, float]]]] = {
    "healthy": {
        "stable": (1000, 1, 0.010, {"class_0": 330, "class_1": 400, "class_2": 270}),
        "canary": (300, 0, 0.011, {"class_0": 100, "class_1": 118, "class_2": 82}),
    },
    "errors": {
        "stable": (1000, 1, 0.010, {"class_0": 330, "class_1": 400, "class_2": 270}),
        "canary": (300, 60, 0.011, {"class_0": 80, "class_1": 90, "class_2": 70}),
    },
    "quiet": {
        "stable": (1000, 1, 0.010, {"class_0": 330, "class_1": 400, "class_2": 270}),
        "canary": (20, 0, 0.011, {"class_0": 7, "class_1": 8, "class_2": 5}),
    },
}


def _answer(query: str, scenario: str) -> list[dict[str, Any]]:
    result = []
    for track, (requests, errors, p99, classes) in SCENARIOS[scenario].items():
        if "predictions" in query:
            result += [
                {"metric": {"track": track, "predicted_class": c}, "value": [0, str(n)]} for c, n in classes.items()
            ]
            continue
        value = p99 if "histogram_quantile" in query else errors if 'status_class="5xx"' in query else requests
        result.append({"metric": {"track": track}, "value": [0, str(value)]})
    return result


@pytest.fixture
def prometheus() -> Iterator[tuple[int, dict[str, str]]]:
    state = {"scenario": "healthy"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)["query"][0]
            body = json.dumps(
                {"status": "success", "data": {"resultType": "vector", "result": _answer(query, state["scenario"])}}
            )
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], state
    server.shutdown()


def _checkout(tmp_path: Path, canary: str) -> Path:
    """The files the script reads: itself, Pulumi.yaml and a stack file with (or without) a canary."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "canary-promotion.sh", root / "scripts")
    shutil.copy2(REPO / "Pulumi.yaml", root)
    config = {"mlops-platform:modelVersion": "v1"} | ({"mlops-platform:modelCanaryVersion": canary} if canary else {})
    (root / "Pulumi.dev.yaml").write_text(json.dumps({"config": config}))
    return root


def _run(tmp_path: Path, port: int, canary: str = "v2", **env: str) -> tuple[int, str, list[str]]:
    root = _checkout(tmp_path, canary)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls.log"
    for name, body in STANDINS.items():
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "$CALLS"\n{body}\n')
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    done = subprocess.run(
        ["bash", str(root / "scripts" / "canary-promotion.sh"), "dev"],
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "CALLS": str(calls),
            "PYTHON": sys.executable,
            "PYTHONPATH": str(REPO),
            "HOME": os.environ.get("HOME", str(tmp_path)),
            "PROMETHEUS_LOCAL_PORT": str(port),
            "CANARY_CHECK_SECONDS": "0.2",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    recorded = calls.read_text().splitlines() if calls.exists() else []
    return done.returncode, done.stdout + done.stderr, recorded


def test_a_healthy_canary_is_promoted_and_recorded(tmp_path: Path, prometheus: tuple[int, dict[str, str]]) -> None:
    status, output, calls = _run(tmp_path, prometheus[0])
    assert status == 0, output
    assert '"action": "promote"' in output
    pulumi = [c for c in calls if c.startswith("pulumi ")]
    assert "pulumi config set modelVersion v2 --stack dev" in pulumi
    assert pulumi.index("pulumi config rm modelCanaryVersion --stack dev") < pulumi.index(
        "pulumi up --yes --skip-preview --policy-pack policy --stack dev"
    )
    assert any(c.startswith("kubectl -n monitoring port-forward svc/kube-prometheus-stack-prometheus") for c in calls)
    assert any(c.startswith("gh pr create") and "Promote model v2 on dev" in c for c in calls)


def test_an_error_burst_is_rolled_back_and_the_run_fails(
    tmp_path: Path, prometheus: tuple[int, dict[str, str]]
) -> None:
    prometheus[1]["scenario"] = "errors"
    status, output, calls = _run(tmp_path, prometheus[0])
    assert status == 1, output
    assert "5xx ratio" in output
    assert not any("config set modelVersion" in c for c in calls)
    assert "pulumi config rm modelCanaryVersion --stack dev" in calls
    assert any(c.startswith("gh pr create") and "Roll back the canary v2 on dev (stable v1 stays)" in c for c in calls)


def test_a_canary_undecided_at_the_deadline_is_rolled_back(
    tmp_path: Path, prometheus: tuple[int, dict[str, str]]
) -> None:
    prometheus[1]["scenario"] = "quiet"
    status, output, calls = _run(tmp_path, prometheus[0], CANARY_MINUTES="0")
    assert status == 1
    assert "still undecided after 0 minutes: rolling it back" in output
    assert "pulumi config rm modelCanaryVersion --stack dev" in calls


def test_no_canary_nothing_to_do(tmp_path: Path, prometheus: tuple[int, dict[str, str]]) -> None:
    status, output, calls = _run(tmp_path, prometheus[0], canary="")
    assert status == 0 and "no canary on dev" in output and calls == []


def test_unreadable_metrics_change_nothing(tmp_path: Path) -> None:
    status, output, calls = _run(tmp_path, free_port())
    assert status == 2 and "cannot read the canary's metrics" in output
    assert not any(c.startswith(("pulumi config", "pulumi up", "git", "gh")) for c in calls)

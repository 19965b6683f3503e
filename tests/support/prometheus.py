"""A real Prometheus (Debian's) scraping a real model-service process with the chart's rule file,
as the chart's ServiceMonitor would: same path, job and namespace labels, exemplar storage on as
the stack runs it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.model_server import RunningServer, free_port
from tests.support.pulumi_harness import REPO
from tests.support.tools import require_tool

RULES = REPO / "charts" / "model-service" / "files" / "rules" / "model-service.rules.yaml"


class Prometheus:
    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=10)

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = self.client.get("/api/v1/query", params={"query": expr}).json()
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def alerts(self) -> list[dict[str, Any]]:
        return self.client.get("/api/v1/alerts").json()["data"]["alerts"]

    def wait_for(self, what: str, check: Any, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}")

    def ready(self) -> bool:
        """True once Prometheus answers /-/ready (it answers 503 while its storage starts)."""
        try:
            return self.client.get("/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    def scraping(self) -> bool:
        try:
            return any(r["value"][1] == "1" for r in self.query('up{job="model-service"}'))
        except httpx.TransportError:
            return False


@contextmanager
def prometheus_scraping(
    service: RunningServer,
    workdir: Path,
    labels: dict[str, str] | None = None,
    more: Sequence[tuple[RunningServer, dict[str, str]]] = (),
) -> Iterator[Prometheus]:
    """Prometheus scraping `service` (with `labels` on its target) and each of `more` (with its own)."""
    binary = require_tool("prometheus", "apt-get install prometheus (Debian/Ubuntu) or a Prometheus release")
    port = free_port()
    targets = [(service, labels or {}), *more]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "model-service",
                "metrics_path": "/metrics",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{server.port}"], "labels": {"namespace": "models", **extra}}
                    for server, extra in targets
                ],
            }
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # As the stack runs it (components/observability.py): exemplars are kept.
            "--enable-feature=exemplar-storage",
        ],
        stdout=(workdir / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    prometheus = Prometheus(f"http://127.0.0.1:{port}")
    try:
        prometheus.wait_for("Prometheus to be ready", prometheus.ready, timeout=60)
        prometheus.wait_for("the service to be scraped", prometheus.scraping, timeout=60)
        yield prometheus
    finally:
        process.terminate()
        process.wait(timeout=30)

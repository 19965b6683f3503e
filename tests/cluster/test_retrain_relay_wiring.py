"""A stack with a retrain repository, rendered (the objects the program makes and the model
service's release; the upstream releases are the same as without it and rendered elsewhere):
Alertmanager's retrain route reaches the relay's Service, the relay's pod gets its Secret and its
code, the code it is given runs on a bare interpreter (no site-packages, as in the stock image),
and the retrain alerts exist in the rules the cluster loads."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import yaml

from components.retrain_relay import RETRAIN_ALERTS
from tests.cluster.test_manifests import test_every_manifest_is_valid_for_the_kubernetes_version as check_valid
from tests.cluster.test_network_policies import _can
from tests.cluster.test_wiring import test_every_secret_a_pod_reads_exists_with_its_key as check_secrets
from tests.support.cluster_render import Cluster, render_stack
from tests.support.model_server import free_port
from tests.support.selectors import selects


@cache
def relay_cluster() -> Cluster:
    return render_stack(
        "prod",
        overrides=(("retrainRepository", "acme/mlops-platform"),),
        secrets=(("retrainGithubToken", "github-dispatch-token"),),
        releases=("model-service",),
    )


def _relay(cluster: Cluster) -> dict:  # type: ignore[type-arg]
    return next(m for m in cluster.of_kind("Deployment") if m.name == "retrain-relay").doc


def test_alertmanager_sends_the_retrain_alerts_to_the_relays_service_with_its_token() -> None:
    cluster = relay_cluster()
    secret = next(m for m in cluster.of_kind("Secret") if m.name == "alertmanager-config")
    config = yaml.safe_load(secret.doc["stringData"]["alertmanager.yaml"])
    route = config["route"]["routes"][0]
    assert route["receiver"] == "retrain" and route["continue"] is True
    assert all(name in route["matchers"][0] for name in RETRAIN_ALERTS)
    webhook = next(r for r in config["receivers"] if r["name"] == "retrain")["webhook_configs"][0]
    url = urlparse(webhook["url"])
    name, namespace = url.hostname.split(".")[:2]  # type: ignore[union-attr]
    service = next(m for m in cluster.of_kind("Service") if (m.name, m.namespace) == (name, namespace))
    assert url.port in {p["port"] for p in service.doc["spec"]["ports"]}
    relay = _relay(cluster)
    assert selects({"matchLabels": service.doc["spec"]["selector"]}, relay["spec"]["template"]["metadata"]["labels"])
    relay_secret = next(m for m in cluster.of_kind("Secret") if m.name == "retrain-relay")
    assert webhook["http_config"]["authorization"]["credentials"] == relay_secret.doc["stringData"]["RELAY_TOKEN"]
    assert relay_secret.doc["stringData"]["GITHUB_TOKEN"] == "github-dispatch-token"
    assert _can(cluster, "alertmanager", "retrain-relay", "http")


def test_the_relay_workload_is_valid_and_reads_what_exists() -> None:
    cluster = relay_cluster()
    check_secrets(cluster)
    relay = [m for m in cluster.manifests if m.name.startswith("retrain-relay")]
    assert {m.kind for m in relay} == {"Deployment", "Service", "Secret", "ConfigMap"}
    check_valid(Cluster(cluster.stack, cluster.run, relay))


def test_every_retrain_alert_is_a_rule_the_cluster_loads() -> None:
    rules = [m for m in relay_cluster().of_kind("PrometheusRule")]
    names = {
        rule["alert"] for m in rules for group in m.doc["spec"]["groups"] for rule in group["rules"] if "alert" in rule
    }
    assert set(RETRAIN_ALERTS) <= names


def test_the_code_the_pod_mounts_runs_on_a_bare_interpreter(tmp_path: Path) -> None:
    cluster = relay_cluster()
    code = next(m for m in cluster.of_kind("ConfigMap") if m.name == "retrain-relay-code")
    package = tmp_path / "app" / "retrain_relay"
    package.mkdir(parents=True)
    for name, text in code.doc["data"].items():
        (package / name).write_text(text)
    container = _relay(cluster)["spec"]["template"]["spec"]["containers"][0]
    assert container["workingDir"] == "/app" and container["volumeMounts"][0]["mountPath"] == "/app/retrain_relay"
    port = free_port()
    env = {item["name"]: item["value"] for item in container["env"]}
    env |= {"PORT": str(port), "HOST": "127.0.0.1", "RELAY_TOKEN": "t", "GITHUB_TOKEN": "g", "PATH": os.environ["PATH"]}
    command = [sys.executable, "-S", *container["command"][1:]]  # no site-packages, as in the stock image
    process = subprocess.Popen(command, cwd=tmp_path / "app", env=env)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
                break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail("the mounted relay did not start")
    finally:
        process.terminate()
        process.wait(timeout=10)

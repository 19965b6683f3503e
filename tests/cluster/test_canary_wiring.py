"""A stack with a canary (modelCanaryVersion), its model-service releases rendered beside the
objects the program makes: the canary's pods get the stable Service's share of requests, the
stable release's NetworkPolicy, its service account and its monitoring (with the `track` label
the promotion step compares by), and serve the canary's model; the config refuses a canary with
nothing to compare with."""

from __future__ import annotations

from functools import cache

import pytest

from stacks.config import ConfigError
from tests.support.cluster_render import Cluster, Manifest, render_stack
from tests.support.pulumi_harness import run_program
from tests.support.selectors import selects

RELEASES = ("model-service", "model-service-canary")


@cache
def canary_cluster() -> Cluster:
    overrides = (("modelVersion", "v1"), ("modelCanaryVersion", "v2"), ("modelCanaryReplicas", 2))
    return render_stack("prod", overrides=overrides, releases=RELEASES)


def _one(cluster: Cluster, kind: str, source: str) -> Manifest:
    (found,) = [m for m in cluster.of_kind(kind) if m.source == source]
    return found


def _env(deployment: Manifest) -> dict[str, str]:
    container = deployment.doc["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value", "") for item in container["env"]}


def test_the_canary_serves_its_version_on_its_own_pods() -> None:
    cluster = canary_cluster()
    stable, canary = (_one(cluster, "Deployment", release) for release in RELEASES)
    assert canary.doc["spec"]["replicas"] == 2
    assert stable.doc["spec"]["template"]["metadata"]["labels"]["track"] == "stable"
    assert canary.doc["spec"]["template"]["metadata"]["labels"]["track"] == "canary"
    assert _env(stable)["MODEL_URI"].endswith("/wine/v1/model.tar.gz")
    assert _env(canary)["MODEL_URI"].endswith("/wine/v2/model.tar.gz")
    # Each Deployment manages only its own pods.
    for deployment, other in ((stable, canary), (canary, stable)):
        selector = deployment.doc["spec"]["selector"]["matchLabels"]
        assert not selects({"matchLabels": selector}, other.doc["spec"]["template"]["metadata"]["labels"])
    # Only the stable release has what must exist once: Service, autoscaler, budget, monitors, policy.
    kinds = {m.kind for m in cluster.manifests if m.source == "model-service-canary"}
    assert kinds == {"Deployment"}


def test_the_stable_service_policy_and_monitor_cover_the_canary_pods() -> None:
    cluster = canary_cluster()
    canary_pods = _one(cluster, "Deployment", "model-service-canary").doc["spec"]["template"]
    service = _one(cluster, "Service", "model-service")
    assert selects({"matchLabels": service.doc["spec"]["selector"]}, canary_pods["metadata"]["labels"])
    policy = _one(cluster, "NetworkPolicy", "model-service")
    assert selects(policy.doc["spec"]["podSelector"], canary_pods["metadata"]["labels"])
    monitor = _one(cluster, "ServiceMonitor", "model-service")
    assert monitor.doc["spec"]["podTargetLabels"] == ["track"]
    assert selects(monitor.doc["spec"]["selector"], service.doc["metadata"]["labels"])
    account = _one(cluster, "ServiceAccount", "model-service")
    assert canary_pods["spec"]["serviceAccountName"] == account.name


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"modelCanaryVersion": "v2"}, "needs a modelVersion to compare with"),
        ({"modelVersion": "v1", "modelCanaryVersion": "v1"}, "is the stable modelVersion already"),
        ({"modelVersion": "v1", "modelCanaryVersion": "v2", "modelCanaryReplicas": 0}, "modelCanaryReplicas"),
    ],
)
def test_a_canary_without_a_stable_track_is_refused(overrides: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        run_program("prod", overrides=overrides)


def test_no_canary_no_canary_release() -> None:
    run = run_program("prod", overrides={"modelVersion": "v1"})
    assert [
        r.inputs["name"] for r in run.of_type("kubernetes:helm.sh/v3:Release") if "model-service" in r.inputs["name"]
    ] == ["model-service"]

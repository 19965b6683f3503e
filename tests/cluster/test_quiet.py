"""A healthy cluster is quiet: every alerting rule the stack installs (kube-prometheus-stack's and
the model service's), loaded into promtool and fed the `up` series a healthy cluster of that stack
has, fires nothing but Watchdog (and InfoInhibitor) over an hour of rule time. With one real
target removed, its alert fires, so the test can fail.

What a healthy cluster exposes is not what a chart renders: EKS runs the control plane out of
reach (no kube-controller-manager, kube-scheduler or etcd endpoints in the cluster), and kube-proxy
serves metrics on 127.0.0.1 only, so Prometheus gets connection refused (up 0). kind, the local
stack's cluster, binds the same components to 127.0.0.1 (kubeadm's defaults).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cluster_render import Cluster, Manifest
from tests.support.selectors import selects
from tests.support.tools import require_tool

# Jobs whose Services select pods a healthy cluster does not let Prometheus reach.
CONTROL_PLANE_OUT_OF_REACH = {"kube-controller-manager", "kube-scheduler", "kube-etcd"}
LOCALHOST_ONLY = {"kube-proxy"}
# Services every cluster has that no chart renders: the API server's, and the kubelet's (which
# the Prometheus operator maintains).
BUILTIN_SERVICES = (
    ("kubernetes", "default", {"component": "apiserver", "provider": "kubernetes"}),
    ("kube-prometheus-stack-kubelet", "kube-system", {"app.kubernetes.io/name": "kubelet", "k8s-app": "kubelet"}),
)
ALWAYS_FIRING = {"Watchdog", "InfoInhibitor"}
RULE_HOURS = 1


def _services(cluster: Cluster) -> list[tuple[str, str, dict[str, str]]]:
    rendered = [(m.name, m.namespace or "", m.doc["metadata"].get("labels") or {}) for m in cluster.of_kind("Service")]
    return rendered + list(BUILTIN_SERVICES)


def _targets(cluster: Cluster, monitor: Manifest) -> list[dict[str, str]]:
    """The `up` label sets Prometheus gives one ServiceMonitor's targets."""
    spec = monitor.doc["spec"]
    namespaces = (spec.get("namespaceSelector") or {}).get("matchNames") or [monitor.namespace]
    found = []
    for name, namespace, labels in _services(cluster):
        if namespace not in namespaces or not selects(spec.get("selector"), labels):
            continue
        job = labels.get(spec.get("jobLabel") or "", name)
        for endpoint in spec.get("endpoints", []):
            found.append(
                {
                    "job": job,
                    "namespace": namespace,
                    "service": name,
                    "endpoint": endpoint.get("port", ""),
                    "metrics_path": endpoint.get("path", "/metrics"),
                    "instance": f"{name}.{namespace}:{endpoint.get('port', 'metrics')}",
                }
            )
    return found


def healthy_up_series(cluster: Cluster) -> list[dict[str, Any]]:
    series = []
    for monitor in cluster.of_kind("ServiceMonitor"):
        for target in _targets(cluster, monitor):
            if target["job"] in CONTROL_PLANE_OUT_OF_REACH:
                continue
            value = 0 if target["job"] in LOCALHOST_ONLY else 1
            labels = ", ".join(f'{key}="{val}"' for key, val in sorted(target.items()))
            series.append({"series": f"up{{{labels}}}", "values": f"{value}x{RULE_HOURS * 60 + 30}"})
    return series


def _rule_groups(cluster: Cluster) -> list[dict[str, Any]]:
    return [group for rule in cluster.of_kind("PrometheusRule") for group in rule.doc["spec"]["groups"]]


def firing_alerts(cluster: Cluster, series: list[dict[str, Any]], workdir: Path) -> set[str]:
    """Names of the alerts firing after RULE_HOURS of rule time, read back through promtool."""
    promtool = require_tool("promtool", "apt-get install prometheus (Debian/Ubuntu) or a Prometheus release")
    (workdir / "rules.yaml").write_text(yaml.safe_dump({"groups": _rule_groups(cluster)}))
    # Ask for an impossible answer: promtool's failure report lists what ALERTS really holds.
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": 'count by (alertname) (ALERTS{alertstate="firing"})',
                        "eval_time": f"{RULE_HOURS}h",
                        "exp_samples": [{"labels": '{alertname="NoSuchAlert"}', "value": 1}],
                    }
                ],
            }
        ],
    }
    (workdir / "test.yaml").write_text(yaml.safe_dump(test))
    result = subprocess.run(
        [promtool, "test", "rules", "test.yaml"], cwd=workdir, capture_output=True, text=True, timeout=600
    )
    output = result.stdout + result.stderr
    assert "got:" in output, output[-3000:]
    got = output.split("got:", 1)[1]
    return set(re.findall(r'alertname="([^"]+)"', got))


def test_a_healthy_cluster_fires_nothing_but_the_watchdog(cluster: Cluster, tmp_path: Path) -> None:
    series = healthy_up_series(cluster)
    assert len(series) > 10
    firing = firing_alerts(cluster, series, tmp_path)
    assert "Watchdog" in firing, "the rules were not evaluated"
    assert firing - ALWAYS_FIRING == set()


@pytest.mark.parametrize(
    ("job", "change", "alert"),
    [
        ("apiserver", "gone", "KubeAPIDown"),
        ("kube-state-metrics", "down", "TargetDown"),
        ("model-service", "down", "ModelServiceTargetDown"),
    ],
)
def test_a_target_that_goes_away_fires_its_alert(
    cluster: Cluster, tmp_path: Path, job: str, change: str, alert: str
) -> None:
    series = healthy_up_series(cluster)
    mine = [item for item in series if f'job="{job}"' in item["series"]]
    assert mine, f"no target of job {job}"
    if change == "gone":
        changed = [item for item in series if item not in mine]
    else:
        changed = [{**item, "values": item["values"].replace("1x", "0x")} if item in mine else item for item in series]
    assert alert in firing_alerts(cluster, changed, tmp_path)

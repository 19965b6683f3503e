"""RetrainRelay: drift and accuracy alerts start the retrain workflow. Alertmanager posts those
alerts (with a generated bearer token) to the relay in the monitoring namespace, which sends one
GitHub `repository_dispatch` per incident (retrain_relay/). The relay is standard-library Python,
run from the same pinned Python base image as the model service with its files from a ConfigMap:
no image of its own to build and scan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.helm import resources
from components.workloads import LOCKED_DOWN_CONTAINER, single_replica_deployment

CODE = Path(__file__).resolve().parent.parent / "retrain_relay"
DOCKERFILE = Path(__file__).resolve().parent.parent / "model_service" / "Dockerfile"
NAME = "retrain-relay"
PORT = 8080
# The alerts that start a retrain (monitoring/rules.py; a test holds them to the rendered rules).
RETRAIN_ALERTS = ("ModelFeatureDriftCritical", "ModelAccuracyDrop")
MOUNT = "/app/retrain_relay"


def python_image() -> str:
    """The model service's pinned Python base image (model_service/Dockerfile's PYTHON_IMAGE)."""
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("ARG PYTHON_IMAGE="):
            return line.split("=", 1)[1].strip()
    raise ValueError(f"no ARG PYTHON_IMAGE in {DOCKERFILE}")


@dataclass(frozen=True)
class RetrainTrigger:
    """Where retrain runs start: `repository` (owner/name) with a token allowed to dispatch."""

    repository: str
    github_token: pulumi.Output[str]


@dataclass(frozen=True)
class RetrainRelayArgs:
    trigger: RetrainTrigger
    namespace: str
    stack: str
    after: tuple[pulumi.Resource, ...] = ()


class RetrainRelay(pulumi.ComponentResource):
    """The relay's Secret, code, Deployment and Service; `url` and `token` are for Alertmanager."""

    url: str
    token: pulumi.Output[str]

    def __init__(self, name: str, args: RetrainRelayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:delivery:RetrainRelay", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.after))
        token = random.RandomPassword(
            f"{name}-token", length=40, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self.token = pulumi.Output.secret(token.result)
        secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata={"name": NAME, "namespace": args.namespace},
            string_data={"RELAY_TOKEN": self.token, "GITHUB_TOKEN": args.trigger.github_token},
            opts=child,
        )
        files = {path.name: path.read_text() for path in sorted(CODE.glob("*.py"))}
        code = k8s.core.v1.ConfigMap(
            f"{name}-code", metadata={"name": f"{NAME}-code", "namespace": args.namespace}, data=files, opts=child
        )
        labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "mlops-platform"}
        single_replica_deployment(
            f"{name}-deployment",
            name=NAME,
            namespace=args.namespace,
            labels=labels,
            pod=_pod(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[secret, code, *args.after]),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": NAME, "namespace": args.namespace, "labels": labels},
            spec={"selector": labels, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
            opts=child,
        )
        self.url = f"http://{NAME}.{args.namespace}.svc.cluster.local:{PORT}/alerts"
        self.register_outputs({"url": self.url})


def _pod(args: RetrainRelayArgs) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    return {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "relay",
                "image": python_image(),
                "command": ["python", "-m", "retrain_relay"],
                "workingDir": "/app",
                "ports": [{"name": "http", "containerPort": PORT}],
                "env": [
                    {"name": "PORT", "value": str(PORT)},
                    {"name": "GITHUB_REPOSITORY", "value": args.trigger.repository},
                    {"name": "RETRAIN_ALERTS", "value": ",".join(RETRAIN_ALERTS)},
                    {"name": "STACK", "value": args.stack},
                    {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                ],
                "envFrom": [{"secretRef": {"name": NAME}}],
                "readinessProbe": probe,
                "livenessProbe": probe,
                "resources": resources("10m", "32Mi", "96Mi"),
                "securityContext": LOCKED_DOWN_CONTAINER,
                "volumeMounts": [{"name": "code", "mountPath": MOUNT, "readOnly": True}],
            }
        ],
        "volumes": [{"name": "code", "configMap": {"name": f"{NAME}-code"}}],
    }

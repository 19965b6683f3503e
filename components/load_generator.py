"""LoadGenerator: live traffic for the model service in its namespace, so that every dashboard
panel has data within minutes of `pulumi up` and a drift alert can be shown on purpose: the
official Locust image running loadgen/locustfile.py (single-row predictions and their true labels
after a delay), with a switch that shifts one feature."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components.workloads import LOCKED_DOWN_CONTAINER, single_replica_deployment
from loadgen.rows import wine_rows_json

LOCUSTFILE = Path(__file__).resolve().parent.parent / "loadgen" / "locustfile.py"
# The official image, pinned; the same Locust the tests run the locustfile with (pyproject's dev extra).
IMAGE = "locustio/locust:2.47.0"
NAME = "load-generator"
MOUNT = "/mnt/loadgen"


@dataclass(frozen=True)
class LoadGeneratorSpec:
    """What a stack decides (read by stacks.config.model_service): 0 users turns it off."""

    users: int
    drift: bool


@dataclass(frozen=True)
class LoadGeneratorArgs:
    spec: LoadGeneratorSpec
    namespace: str
    # The model service's in-cluster URL, and the Secret holding FEEDBACK_TOKEN.
    target_url: str
    feedback_secret: str
    after: tuple[pulumi.Resource, ...] = ()


class LoadGenerator(pulumi.ComponentResource):
    def __init__(self, name: str, args: LoadGeneratorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:workload:LoadGenerator", name, None, opts)
        config = k8s.core.v1.ConfigMap(
            f"{name}-files",
            metadata={"name": NAME, "namespace": args.namespace},
            data={"locustfile.py": LOCUSTFILE.read_text(), "wine.json": wine_rows_json()},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
        )
        labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "mlops-platform"}
        env = [
            {"name": "WINE_ROWS", "value": f"{MOUNT}/wine.json"},
            {"name": "DRIFT", "value": "on" if args.spec.drift else "off"},
            {"name": "LABEL_DELAY_SECONDS", "value": "30"},
            {
                "name": "FEEDBACK_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": args.feedback_secret, "key": "FEEDBACK_TOKEN"}},
            },
        ]
        single_replica_deployment(
            f"{name}-deployment",
            name=NAME,
            namespace=args.namespace,
            labels=labels,
            pod={
                "automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000},
                "containers": [
                    {
                        "name": "locust",
                        "image": IMAGE,
                        "args": [
                            "-f",
                            f"{MOUNT}/locustfile.py",
                            "--headless",
                            "--users",
                            str(args.spec.users),
                            "--spawn-rate",
                            str(args.spec.users),
                            "--host",
                            args.target_url,
                            "--only-summary",
                        ],
                        "env": env,
                        "resources": {
                            "requests": {"cpu": "50m", "memory": "96Mi"},
                            "limits": {"cpu": "200m", "memory": "192Mi"},
                        },
                        "securityContext": LOCKED_DOWN_CONTAINER,
                        "volumeMounts": [
                            {"name": "files", "mountPath": MOUNT, "readOnly": True},
                            {"name": "tmp", "mountPath": "/tmp"},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "files", "configMap": {"name": NAME}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config, *args.after]),
        )
        self.register_outputs({"users": args.spec.users, "drift": args.spec.drift})

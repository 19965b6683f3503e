"""ObjectStore: MinIO in the cluster, the S3 of a stack without AWS (the local stack).

The models bucket the service loads from, Loki's chunk store and the capture bucket live here, and
their clients reach them through the same code paths as on AWS: `s3://` URIs, with the endpoint
override every AWS SDK reads (AWS_ENDPOINT_URL_S3) and credentials in the environment. Each client
is its own MinIO user holding exactly the statements it needs, with a password Pulumi generates;
the client's component puts that into a Kubernetes Secret in its own namespace (`S3Access.secret`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import network_policies
from components.helm import resources, vendored_release
from components.vendored_charts import MINIO

NAMESPACE = network_policies.OBJECT_STORE_NAMESPACE
SERVICE = "minio"
PORT = network_policies.OBJECT_STORE_PORT
HOST = f"{SERVICE}.{NAMESPACE}.svc.cluster.local"
ENDPOINT = f"http://{HOST}:{PORT}"
# MinIO's region unless configured otherwise; clients sign their requests for it.
REGION = "us-east-1"
PODS = network_policies.OBJECT_STORE_PODS
ROOT_SECRET = "minio-root"
# Buckets, by the role they play (the names the AWS stacks give them differ per stack).
BUCKETS = ("models", "logs", "capture")


@dataclass(frozen=True)
class ObjectStoreSpec:
    storage_gi: int


@dataclass(frozen=True)
class ObjectStoreClient:
    """A MinIO user (named `name`) for pods in `namespaces`, allowed `statements` (IAM-style,
    `arn:aws:s3:::bucket/key` resources) and nothing else. `pods` selects the pods that connect
    (None: every pod of those namespaces)."""

    name: str
    namespaces: tuple[str, ...]
    statements: tuple[dict[str, Any], ...]
    pods: dict[str, Any] | None = None


@dataclass(frozen=True)
class S3Access:
    """How one client reaches the store: the environment an AWS SDK reads."""

    access_key: str
    secret_key: pulumi.Output[str]
    endpoint: str = ENDPOINT
    region: str = REGION

    def environment(self) -> dict[str, pulumi.Input[str]]:
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def secret(
        self,
        resource_name: str,
        name: str,
        namespace: str,
        *,
        parent: pulumi.Resource,
        after: Sequence[pulumi.Resource],
    ) -> k8s.core.v1.Secret:
        """A Secret holding `environment()`, for a pod's envFrom."""
        return k8s.core.v1.Secret(
            resource_name,
            metadata={"name": name, "namespace": namespace},
            string_data=self.environment(),
            opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
        )


def read_objects(bucket: str, prefix: str) -> tuple[dict[str, Any], ...]:
    """Get and list what is under `prefix/` of `bucket`."""
    return (
        {"actions": ["s3:GetObject"], "resources": [f"arn:aws:s3:::{bucket}/{prefix}/*"]},
        {"actions": ["s3:ListBucket"], "resources": [f"arn:aws:s3:::{bucket}"]},
    )


def write_objects(bucket: str, *prefixes: str) -> dict[str, Any]:
    """Put objects under each of `prefixes` of `bucket` (a prefix "" is the whole bucket)."""
    return {
        "actions": ["s3:PutObject"],
        "resources": [f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}*" for prefix in prefixes],
    }


def minio_values(spec: ObjectStoreSpec, clients: Sequence[ObjectStoreClient]) -> dict[str, Any]:
    """One MinIO server on one volume; buckets, policies and users made by the chart's post-install job."""
    # The post-install job (buckets, policies, users) as non-root as the server: `mc` needs no root.
    non_root = {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000}
    job = {
        "resources": resources("10m", "64Mi", "128Mi"),
        "securityContext": {"enabled": True},
        "containerSecurityContext": {
            **non_root,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    return {
        "mode": "standalone",
        "replicas": 1,
        "existingSecret": ROOT_SECRET,
        "persistence": {"enabled": True, "size": f"{spec.storage_gi}Gi"},
        # The chart's default request is 16 GiB of memory: no laptop cluster has it.
        "resources": resources("50m", "256Mi", "1Gi"),
        "buckets": [{"name": bucket, "policy": "none", "purge": False} for bucket in BUCKETS],
        "policies": [{"name": client.name, "statements": list(client.statements)} for client in clients],
        "users": [
            {
                "accessKey": client.name,
                "existingSecret": user_secret(client.name),
                "existingSecretKey": "secretKey",
                "policy": client.name,
            }
            for client in clients
        ],
        "postJob": {"securityContext": {"enabled": True, **non_root, "fsGroup": 1000}},
        "makePolicyJob": job,
        "makeUserJob": job,
        "makeBucketJob": job,
        "makeServiceAccountJob": job,
        "customCommandJob": job,
        # The console is for people; they use `mc` or the AWS CLI through a port-forward.
        "consoleService": {"type": "ClusterIP"},
        "networkPolicy": {"enabled": False},  # the namespace's own policies (below) apply
        "metrics": {"serviceMonitor": {"enabled": False}},
    }


def user_secret(client: str) -> str:
    return f"minio-user-{client}"


class ObjectStore(pulumi.ComponentResource):
    """The MinIO release in its namespace, with one user per client."""

    release: k8s.helm.v3.Release
    endpoint = ENDPOINT
    # The root credentials, for people (`pulumi stack output objectStoreRootPassword`).
    root_password: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        spec: ObjectStoreSpec,
        clients: Sequence[ObjectStoreClient],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlops:storage:ObjectStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        flows = network_policies.baseline(NAMESPACE)
        for client in clients:
            flows.append(
                network_policies.Flow(
                    f"{client.name}-in",
                    PODS,
                    "Ingress",
                    network_policies.in_namespaces(client.namespaces, client.pods),
                    [{"port": PORT, "protocol": "TCP"}],
                )
            )
        namespace = network_policies.namespace(name, NAMESPACE, flows, parent=self)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        root = random.RandomPassword(f"{name}-root-password", length=40, special=False, opts=child)
        self.root_password = pulumi.Output.secret(root.result)
        secrets: list[pulumi.Resource] = [
            k8s.core.v1.Secret(
                f"{name}-root",
                metadata={"name": ROOT_SECRET, "namespace": NAMESPACE},
                string_data={"rootUser": "root", "rootPassword": self.root_password},
                opts=in_namespace,
            )
        ]
        self._access: dict[str, S3Access] = {}
        for client in clients:
            password = random.RandomPassword(f"{name}-{client.name}-password", length=40, special=False, opts=child)
            access = S3Access(client.name, pulumi.Output.secret(password.result))
            self._access[client.name] = access
            secrets.append(
                k8s.core.v1.Secret(
                    f"{name}-user-{client.name}",
                    metadata={"name": user_secret(client.name), "namespace": NAMESPACE},
                    string_data={"secretKey": access.secret_key},
                    opts=in_namespace,
                )
            )
        self.release = vendored_release(
            name, MINIO, namespace=NAMESPACE, values=minio_values(spec, clients), parent=self, depends_on=secrets
        )
        self.register_outputs({"endpoint": ENDPOINT})

    def access(self, client: str) -> S3Access:
        return self._access[client]

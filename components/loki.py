"""Loki's values: the log store, on S3 through its IRSA role on AWS stacks, on the filesystem on a
local cluster; caches sized per stack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.artifact_store import StoredBucket
from components.helm import resources
from components.object_store import HOST as OBJECT_STORE_HOST
from components.object_store import PORT as OBJECT_STORE_PORT
from components.object_store import ObjectStoreClient, S3Access

SERVICE_ACCOUNT = "loki"
PODS = {"matchLabels": {"app.kubernetes.io/name": "loki"}}
# The Secret with Loki's object-store credentials (in its namespace) where the store is MinIO.
OBJECT_STORE_SECRET = "loki-object-store"
OBJECT_STORE_BUCKET = "logs"


def object_store_client(namespace: str) -> ObjectStoreClient:
    """Loki's user of an in-cluster object store: its chunks, index and rules in the logs bucket."""
    bucket = OBJECT_STORE_BUCKET
    return ObjectStoreClient(
        "loki",
        (namespace,),
        (
            {
                "actions": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "resources": [f"arn:aws:s3:::{bucket}/*"],
            },
            {"actions": ["s3:ListBucket"], "resources": [f"arn:aws:s3:::{bucket}"]},
        ),
        PODS,
    )


@dataclass(frozen=True)
class LokiSpec:
    retention_hours: int
    scalable: bool
    # Memory of the chunks and results caches in MB; 0 turns a cache off.
    chunks_cache_mb: int
    results_cache_mb: int


def loki_values(
    spec: LokiSpec,
    logs_bucket: StoredBucket | None,
    region: str | None,
    role_arn: pulumi.Output[str] | None,
    object_store: S3Access | None = None,
) -> dict[str, Any]:
    """Monolithic or simple-scalable on S3: the logs bucket through IRSA (AWS), or the in-cluster
    object store's logs bucket with the credentials in OBJECT_STORE_SECRET; else monolithic on
    the filesystem."""
    on_s3 = logs_bucket is not None or object_store is not None
    schema = {
        "configs": [
            {
                "from": "2024-04-01",
                "store": "tsdb",
                "object_store": "s3" if on_s3 else "filesystem",
                "schema": "v13",
                "index": {"prefix": "index_", "period": "24h"},
            }
        ]
    }
    loki: dict[str, Any] = {
        "auth_enabled": False,
        "schemaConfig": schema,
        "limits_config": {
            "retention_period": f"{spec.retention_hours}h",
            "allow_structured_metadata": True,
            "volume_enabled": True,
        },
        "compactor": {"retention_enabled": True, "delete_request_store": "s3" if on_s3 else "filesystem"},
        "commonConfig": {"replication_factor": 3 if spec.scalable else 1},
    }
    values: dict[str, Any] = {
        "loki": loki,
        "serviceAccount": {"name": SERVICE_ACCOUNT},
        # The chart's test pod and canary are for the chart's own CI; the test's default address
        # names a template the chart does not define, so rendering it fails the install.
        "test": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "gateway": {
            "resources": resources("20m", "32Mi", "128Mi"),
            "metrics": {"resources": resources("10m", "16Mi", "64Mi")},
        },
        "sidecar": {"resources": resources("10m", "32Mi", "128Mi")},
        "memcachedExporter": {"resources": resources("10m", "32Mi", "64Mi")},
        **_cache_values(spec),
    }
    if logs_bucket is not None:
        bucket = logs_bucket.name
        loki["storage"] = {
            "type": "s3",
            "bucketNames": {"chunks": bucket, "ruler": bucket},
            "s3": {"region": region},
        }
        if role_arn is not None:
            values["serviceAccount"]["annotations"] = {"eks.amazonaws.com/role-arn": role_arn}
    elif object_store is not None:
        bucket = OBJECT_STORE_BUCKET
        loki["storage"] = {
            "type": "s3",
            "bucketNames": {"chunks": bucket, "ruler": bucket},
            "s3": {
                "endpoint": f"{OBJECT_STORE_HOST}:{OBJECT_STORE_PORT}",
                "region": object_store.region,
                "insecure": True,
                "s3ForcePathStyle": True,
                # Filled from the pod's environment (OBJECT_STORE_SECRET) by -config.expand-env.
                "accessKeyId": "${AWS_ACCESS_KEY_ID}",
                "secretAccessKey": "${AWS_SECRET_ACCESS_KEY}",
            },
        }
        for target in ("singleBinary", "backend", "read", "write"):
            values[target] = {
                "extraArgs": ["-config.expand-env=true"],
                "extraEnvFrom": [{"secretRef": {"name": OBJECT_STORE_SECRET}}],
            }
    else:
        loki["storage"] = {"type": "filesystem"}
    targets: dict[str, dict[str, Any]]
    if spec.scalable:
        values["deploymentMode"] = "SimpleScalable"
        targets = {
            "backend": {"replicas": 3, "resources": resources("100m", "256Mi", "1Gi")},
            "read": {"replicas": 3, "resources": resources("100m", "256Mi", "1Gi")},
            "write": {"replicas": 3, "resources": resources("100m", "256Mi", "1Gi")},
            "singleBinary": {"replicas": 0},
        }
    else:
        values["deploymentMode"] = "Monolithic"
        targets = {
            "singleBinary": {"replicas": 1, "resources": resources("100m", "256Mi", "1Gi")},
            "backend": {"replicas": 0},
            "read": {"replicas": 0},
            "write": {"replicas": 0},
        }
    for target, settings in targets.items():
        values[target] = {**values.get(target, {}), **settings}
    return values


def _cache_values(spec: LokiSpec) -> dict[str, Any]:
    """Loki's memcached caches, sized per stack; 0 turns one off. The chart requests 1.2 times
    `allocatedMemory` for each cache pod, so its default (8 GiB for chunks) fits no small node."""
    caches: dict[str, Any] = {}
    for key, megabytes in (("chunksCache", spec.chunks_cache_mb), ("resultsCache", spec.results_cache_mb)):
        caches[key] = {"enabled": megabytes > 0, "allocatedMemory": max(megabytes, 64)}
    return caches

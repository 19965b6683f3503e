"""Tempo's values: the trace store (the vendored single-binary chart), fed by Alloy over OTLP and
read by Grafana. On AWS stacks it keeps blocks under `traces/` of the logs bucket through its IRSA
role; on a local cluster on the pod's filesystem. Blocks older than the retention are deleted by
Tempo's own compactor."""

from __future__ import annotations

from typing import Any

import pulumi

from components.artifact_store import StoredBucket
from components.helm import resources
from components.iam import policy_document

SERVICE_ACCOUNT = "tempo"
# The chart's Service (fullname = release name) and the ports the platform uses on it.
SERVICE = "tempo"
QUERY_PORT = 3200
OTLP_GRPC_PORT = 4317
# Where the blocks go in the logs bucket (Loki keeps the rest of it).
BUCKET_PREFIX = "traces"


def tempo_values(
    retention_hours: int,
    traces_bucket: StoredBucket | None,
    region: str | None,
    role_arn: pulumi.Output[str] | None,
) -> dict[str, Any]:
    """Single binary, receiving OTLP only (Alloy is the one client); S3 on AWS, local disk else."""
    storage: dict[str, Any] = {"wal": {"path": "/var/tempo/wal"}}
    if traces_bucket is not None:
        storage["backend"] = "s3"
        storage["s3"] = {
            "bucket": traces_bucket.name,
            "prefix": BUCKET_PREFIX,
            "endpoint": f"s3.{region}.amazonaws.com",
            "region": region,
        }
    else:
        storage["backend"] = "local"
        storage["local"] = {"path": "/var/tempo/traces"}
    values: dict[str, Any] = {
        "fullnameOverride": SERVICE,
        "tempo": {
            "retention": f"{retention_hours}h",
            "reportingEnabled": False,
            # The ballast is address space the Go runtime counts as live heap; small pods need little.
            "memBallastSizeMbs": 64,
            "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"0.0.0.0:{OTLP_GRPC_PORT}"}}}},
            "storage": {"trace": storage},
            "resources": resources("100m", "256Mi", "1Gi"),
        },
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
    }
    if role_arn is not None:
        values["serviceAccount"]["annotations"] = {"eks.amazonaws.com/role-arn": role_arn}
    return values


def tempo_policy(bucket_arn: str, kms_key_arn: str) -> str:
    """Tempo may list, read, write, tag and delete objects under `traces/` of the logs bucket only."""
    return policy_document(
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
            "Condition": {"StringLike": {"s3:prefix": [BUCKET_PREFIX, f"{BUCKET_PREFIX}/*"]}},
        },
        {
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:GetObjectTagging",
                "s3:PutObjectTagging",
            ],
            "Resource": [f"{bucket_arn}/{BUCKET_PREFIX}/*"],
        },
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [kms_key_arn]},
    )

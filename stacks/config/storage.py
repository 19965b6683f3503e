"""Config of the storage area: the artifact buckets' lifecycle (AWS), the in-cluster object store (no AWS)."""

from __future__ import annotations

from components.artifact_store import ArtifactStoreSpec
from components.object_store import ObjectStoreSpec
from stacks.config.reader import Reader


def read(reader: Reader) -> ArtifactStoreSpec:
    return ArtifactStoreSpec(
        force_destroy=reader.boolean("bucketForceDestroy"),
        noncurrent_version_expiration_days=reader.integer("noncurrentVersionExpirationDays", minimum=1),
        expiration_days={
            "logs": (logs := reader.integer("logsExpirationDays", minimum=1)),
            "capture": reader.integer("captureExpirationDays", minimum=1),
            # S3 server access logs are kept as long as the platform's other logs.
            "access-logs": logs,
        },
    )


def read_object_store(reader: Reader) -> ObjectStoreSpec:
    return ObjectStoreSpec(storage_gi=reader.integer("objectStoreStorageGi", minimum=1, maximum=1000))

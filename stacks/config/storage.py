"""Config of the storage area: the artifact buckets' lifecycle."""

from __future__ import annotations

from components.artifact_store import ArtifactStoreSpec
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

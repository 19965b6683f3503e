"""Config of the observability area: Prometheus and Loki retention and size, Grafana's login."""

from __future__ import annotations

import re

from components.observability import ObservabilitySpec
from stacks.config.reader import Reader


def read(reader: Reader) -> ObservabilitySpec:
    retention = reader.string("prometheusRetention")
    if retention and not re.fullmatch(r"\d+(h|d|w|y)", retention):
        reader.problem("prometheusRetention", retention, "must be a Prometheus duration such as 15d, 72h or 4w")
    return ObservabilitySpec(
        prometheus_retention=retention,
        prometheus_storage_gi=reader.integer("prometheusStorageGi", minimum=1, maximum=16384),
        loki_retention_hours=reader.integer("lokiRetentionHours", minimum=24),
        loki_scalable=reader.boolean("lokiScalable"),
        loki_chunks_cache_mb=reader.integer("lokiChunksCacheMb", minimum=0, maximum=65536),
        loki_results_cache_mb=reader.integer("lokiResultsCacheMb", minimum=0, maximum=65536),
        grafana_admin_password=reader.secret("grafanaAdminPassword"),
    )

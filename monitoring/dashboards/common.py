"""What the model service's dashboards share: their variables and the selector they apply."""

from __future__ import annotations

from typing import Any

from monitoring import names
from monitoring.dashboards.layout import datasource_variable, prometheus_variable

# Every query of the model service's boards is scoped by the namespace and job variables.
SELECTOR = 'namespace=~"$namespace", job=~"$job"'
RATE = "[$__rate_interval]"
# Logs of the model service, as Alloy labels them.
SERVICE_LOGS = '{app="model-service", namespace=~"$namespace"}'


def service_variables() -> list[Any]:
    ready = names.MODEL_READY.series
    return [
        datasource_variable("datasource", "Prometheus", "prometheus"),
        datasource_variable("loki", "Loki", "loki"),
        datasource_variable("tempo", "Tempo", "tempo"),
        prometheus_variable("namespace", "Namespace", f"label_values({ready}, namespace)"),
        prometheus_variable("job", "Job", f'label_values({ready}{{namespace=~"$namespace"}}, job)'),
        prometheus_variable(
            "feature",
            "Feature",
            f'label_values({names.FEATURE_REFERENCE_SHARE.series}{{namespace=~"$namespace"}}, feature)',
        ),
    ]


def rate(series: str, matchers: str = "") -> str:
    """`rate(series{selector[, matchers]}[$__rate_interval])`."""
    extra = f", {matchers}" if matchers else ""
    return f"rate({series}{{{SELECTOR}{extra}}}{RATE})"

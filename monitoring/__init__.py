"""Model monitoring as one package, in the style of the Prometheus monitoring mixins: the metric
names (`names`), the SLOs (`slo`), the recording and alerting rules (`rules`) and the Grafana
dashboards (`dashboards`) are defined here once. `python -m monitoring` writes what the chart and
the Observability component ship; a test fails when a committed copy is stale.

Only `names` goes into the model-service image (standard library only): the service exports
exactly the metrics it declares.
"""

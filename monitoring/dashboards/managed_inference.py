"""The "Managed inference" board: API Gateway -> Lambda proxy -> SageMaker endpoint, over
CloudWatch. The Observability component ships it on AWS stacks only."""

from __future__ import annotations

from grafana_foundation_sdk.builders.cloudwatch import CloudWatchMetricsQuery

from model_service.drift_contract import CLOUDWATCH_NAMESPACE
from monitoring.dashboards.layout import Board, cloudwatch_dimension_variable, cloudwatch_query, datasource_variable

VARIANT = "primary"  # components/sagemaker_endpoint.py's production variant


def board() -> Board:
    b = Board(
        "managed-inference",
        "Managed inference",
        "The managed path: API Gateway -> Lambda proxy -> SageMaker endpoint, from CloudWatch.",
        [
            datasource_variable("cloudwatch", "CloudWatch", "cloudwatch"),
            cloudwatch_dimension_variable("api", "API id", "AWS/ApiGateway", "Count", "ApiId"),
            cloudwatch_dimension_variable("function", "Lambda", "AWS/Lambda", "Invocations", "FunctionName"),
            cloudwatch_dimension_variable("endpoint", "Endpoint", "AWS/SageMaker", "Invocations", "EndpointName"),
        ],
        tags=("sagemaker", "mlops"),
    )

    def api(metric: str, statistic: str, label: str) -> CloudWatchMetricsQuery:
        return cloudwatch_query("AWS/ApiGateway", metric, {"ApiId": "$api"}, statistic, label)

    def function(metric: str, statistic: str, label: str) -> CloudWatchMetricsQuery:
        return cloudwatch_query("AWS/Lambda", metric, {"FunctionName": "$function"}, statistic, label)

    def endpoint(metric: str, statistic: str, label: str, namespace: str = "AWS/SageMaker") -> CloudWatchMetricsQuery:
        return cloudwatch_query(
            namespace, metric, {"EndpointName": "$endpoint", "VariantName": VARIANT}, statistic, label
        )

    b.row("API Gateway")
    b.cloudwatch(
        "API requests and errors",
        "Requests to the inference API and the 4xx / 5xx answers among them, per period.",
        "short",
        [api("Count", "Sum", "requests"), api("4xx", "Sum", "4xx"), api("5xx", "Sum", "5xx")],
    )
    b.cloudwatch(
        "API latency",
        "Time from request to response at API Gateway (p50, p99) and the integration's share (p99).",
        "ms",
        [
            api("Latency", "p50", "p50"),
            api("Latency", "p99", "p99"),
            api("IntegrationLatency", "p99", "integration p99"),
        ],
    )
    b.row("Lambda proxy")
    b.cloudwatch(
        "Proxy invocations, errors, throttles",
        "Lambda invocations per period; errors are crashes of the proxy, throttles are concurrency limits.",
        "short",
        [
            function("Invocations", "Sum", "invocations"),
            function("Errors", "Sum", "errors"),
            function("Throttles", "Sum", "throttles"),
        ],
        width=8,
    )
    b.cloudwatch(
        "Proxy duration",
        "Lambda run time per invocation (p50, p99), the endpoint call included.",
        "ms",
        [function("Duration", "p50", "p50"), function("Duration", "p99", "p99")],
        width=8,
    )
    b.cloudwatch(
        "Proxy concurrency",
        "Most Lambda instances running at once in each period.",
        "short",
        [function("ConcurrentExecutions", "Maximum", "concurrent")],
        width=8,
    )
    b.row("SageMaker endpoint")
    b.cloudwatch(
        "Endpoint invocations and errors",
        "Invocations of the endpoint per period, and the 4xx / 5xx answers of the model container.",
        "short",
        [
            endpoint("Invocations", "Sum", "invocations"),
            endpoint("Invocation4XXErrors", "Sum", "4xx"),
            endpoint("Invocation5XXErrors", "Sum", "5xx"),
        ],
    )
    b.cloudwatch(
        "Model and overhead latency",
        "ModelLatency is the container's time (p50, p99); OverheadLatency is SageMaker's own (p99).",
        "µs",
        [
            endpoint("ModelLatency", "p50", "model p50"),
            endpoint("ModelLatency", "p99", "model p99"),
            endpoint("OverheadLatency", "p99", "overhead p99"),
        ],
    )
    b.cloudwatch(
        "Invocations per instance",
        "What the provisioned endpoint's autoscaling tracks: invocations per instance per minute.",
        "short",
        [endpoint("InvocationsPerInstance", "Sum", "per instance")],
        width=8,
    )
    b.cloudwatch(
        "Instance CPU and memory",
        "Utilisation of the provisioned endpoint's instances (CPU is per core: 200% on two cores).",
        "percent",
        [
            endpoint("CPUUtilization", "Average", "CPU", namespace="/aws/sagemaker/Endpoints"),
            endpoint("MemoryUtilization", "Average", "memory", namespace="/aws/sagemaker/Endpoints"),
        ],
        width=8,
    )
    b.row("Model quality (captured)")

    def quality(metric: str, statistic: str, label: str) -> CloudWatchMetricsQuery:
        return cloudwatch_query(CLOUDWATCH_NAMESPACE, metric, {"EndpointName": "$endpoint"}, statistic, label)

    b.cloudwatch(
        "Drift of captured requests (1h window)",
        "From the drift monitor, every 15 minutes over the last hour of the endpoint's capture: the "
        "largest feature PSI and the predicted-class PSI against the training data (alarm above 0.25).",
        "none",
        [quality("MaxFeaturePSI", "Maximum", "max feature PSI"), quality("PredictionPSI", "Maximum", "prediction PSI")],
        width=8,
    )
    b.cloudwatch(
        "Accuracy on labels (1h window)",
        "Share of labels sent to the API's /feedback that matched the prediction (alarm below 85%).",
        "percentunit",
        [quality("Accuracy", "Minimum", "accuracy")],
        width=8,
    )
    b.cloudwatch(
        "Captured and labelled rows (1h window)",
        "Rows the drift monitor read from the capture, and labels kept for the endpoint.",
        "short",
        [quality("CapturedRows", "Maximum", "captured"), quality("LabelledRows", "Maximum", "labelled")],
        width=8,
    )
    b.cloudwatch(
        "Serverless cold starts",
        "ModelSetupTime of a serverless endpoint: how long a cold start took to bring a container up.",
        "µs",
        [endpoint("ModelSetupTime", "Maximum", "setup")],
        width=8,
    )
    return b

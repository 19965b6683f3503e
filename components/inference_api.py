"""InferenceApi: an HTTP API in front of the SageMaker endpoint, and the alarms of the managed path.

API Gateway (HTTP API) -> Lambda (`inference_proxy/`, boto3 `sagemaker-runtime`) -> endpoint. The
API has no anonymous route: IAM (SigV4) or a JWT authorizer guards both routes. Alarms on the
Lambda, the API and the endpoint notify one encrypted SNS topic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.artifact_store import StoredBucket
from components.iam import arn_partition, policy_document
from components.python_function import PythonFunctionSpec, python_function
from components.sagemaker_endpoint import INVOCATION_ERRORS_ALARM, MODEL_LATENCY_ALARM, alarm_name

REPO = Path(__file__).resolve().parent.parent
# The function's package: the handler, and what it shares with the model service: the row contract,
# the feedback ids, the trace context and the capture layout (a `model_service` package of standard-library modules:
# the zip needs no dependencies).
FUNCTION_FILES = {
    "handler.py": REPO / "inference_proxy" / "handler.py",
    "model_service/__init__.py": REPO / "model_service" / "__init__.py",
    "model_service/rows.py": REPO / "model_service" / "rows.py",
    "model_service/feedback.py": REPO / "model_service" / "feedback.py",
    "model_service/trace_context.py": REPO / "model_service" / "trace_context.py",
    "model_service/capture_format.py": REPO / "model_service" / "capture_format.py",
}
ROUTES = ("POST /predict", "POST /feedback", "GET /health")
RUNBOOK_URL = "https://github.com/mlops-platform/mlops-platform/blob/main/docs/runbooks.md#managed-inference"
# API Gateway gives an integration at most 30 s; the proxy gives up on the endpoint before that.
INTEGRATION_TIMEOUT_MS = 29_000
LAMBDA_TIMEOUT_SECONDS = 28
# Each of the proxy's two attempts may wait this long for the endpoint; with their connects and the
# backoff between them that is 25 s, inside the function's 28 (tests/proxy checks the sum).
ENDPOINT_TIMEOUT_SECONDS = 10
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
        "caller": "$context.identity.caller",
    }
)


@dataclass(frozen=True)
class Capture:
    """Where the proxy writes its sample of requests and responses (serverless endpoints only)."""

    bucket: StoredBucket
    percent: int


@dataclass(frozen=True)
class Feedback:
    """Labels through the API: kept under ground-truth/sagemaker/<endpoint>/ of the capture bucket."""

    bucket: StoredBucket
    class_names: Sequence[str]


# Where the proxy keeps labels of one endpoint, beside the cluster's (components.model_service).
GROUND_TRUTH_PREFIX = "ground-truth/sagemaker"


@dataclass(frozen=True)
class AlarmThresholds:
    api_5xx_percent: int
    api_latency_p99_ms: int
    model_latency_p99_ms: int


# Who may call the API: SigV4-signed requests or bearer tokens. There is no anonymous access.
Authorization = Literal["iam", "jwt"]


@dataclass(frozen=True)
class ApiSpec:
    """What a stack decides about its inference API (read by stacks.config.managed_inference)."""

    authorization: Authorization
    throttle_rate_limit: int
    throttle_burst_limit: int
    thresholds: AlarmThresholds
    jwt_issuer: str = ""
    jwt_audiences: Sequence[str] = ()
    alarm_emails: Sequence[str] = ()


@dataclass(frozen=True)
class InferenceApiArgs:
    spec: ApiSpec
    name_prefix: str
    region: str
    account_id: pulumi.Input[str]
    endpoint_name: pulumi.Input[str]
    endpoint_arn: pulumi.Input[str]
    variant_name: str
    model_version: str
    log_retention_days: int
    capture: Capture | None = None
    feedback: Feedback | None = None


class InferenceApi(pulumi.ComponentResource):
    """Lambda proxy, HTTP API (throttled, access-logged, authorized), alarm topic and alarms."""

    url: pulumi.Output[str]
    function_name: pulumi.Output[str]
    api_id: pulumi.Output[str]
    alarm_topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: InferenceApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:inference:InferenceApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        function_name = f"{args.name_prefix}-inference-proxy"
        secret = self._signing_secret(name, args) if args.feedback is not None else None
        environment: dict[str, pulumi.Input[str]] = {
            "ENDPOINT_NAME": args.endpoint_name,
            "MODEL_VERSION": args.model_version,
            "INVOKE_TIMEOUT_SECONDS": str(ENDPOINT_TIMEOUT_SECONDS),
        }
        if args.capture is not None:
            environment.update(
                CAPTURE_BUCKET=args.capture.bucket.name,
                CAPTURE_PREFIX=pulumi.Output.concat(args.endpoint_name, "/proxy"),
                CAPTURE_PERCENT=str(args.capture.percent),
            )
        if args.feedback is not None and secret is not None:
            environment.update(
                FEEDBACK_SECRET_ARN=secret.arn,
                GROUND_TRUTH_BUCKET=args.feedback.bucket.name,
                GROUND_TRUTH_PREFIX=pulumi.Output.concat(GROUND_TRUTH_PREFIX, "/", args.endpoint_name),
                CLASS_NAMES=",".join(args.feedback.class_names),
            )
        function = python_function(
            name,
            PythonFunctionSpec(
                function_name=function_name,
                description="Validates prediction requests and calls the SageMaker endpoint",
                role_description=f"Lambda {function_name}: invoke one endpoint, write its own logs",
                files=FUNCTION_FILES,
                policy=lambda logs_arn: self._function_policy(args, logs_arn, secret.arn if secret else ""),
                environment=environment,
                memory_size=256,
                timeout=LAMBDA_TIMEOUT_SECONDS,
                log_retention_days=args.log_retention_days,
                tracing=True,
            ),
            parent=self,
        )

        api = aws.apigatewayv2.Api(
            f"{name}-api",
            name=f"{args.name_prefix}-inference",
            protocol_type="HTTP",
            description=f"Predictions from SageMaker endpoint (model {args.model_version})",
            opts=child,
        )
        api_child = pulumi.ResourceOptions(parent=api)
        integration = aws.apigatewayv2.Integration(
            f"{name}-proxy",
            api_id=api.id,
            integration_type="AWS_PROXY",
            integration_uri=function.invoke_arn,
            payload_format_version="2.0",
            timeout_milliseconds=INTEGRATION_TIMEOUT_MS,
            opts=api_child,
        )
        authorizer_id: pulumi.Output[str] | None = None
        if args.spec.authorization == "jwt":
            authorizer_id = aws.apigatewayv2.Authorizer(
                f"{name}-jwt",
                api_id=api.id,
                name="jwt",
                authorizer_type="JWT",
                identity_sources=["$request.header.Authorization"],
                jwt_configuration=aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
                    issuer=args.spec.jwt_issuer, audiences=list(args.spec.jwt_audiences)
                ),
                opts=api_child,
            ).id
        routes = [
            aws.apigatewayv2.Route(
                f"{name}-{route_key.split()[1].strip('/')}",
                api_id=api.id,
                route_key=route_key,
                target=pulumi.Output.concat("integrations/", integration.id),
                authorization_type="JWT" if args.spec.authorization == "jwt" else "AWS_IAM",
                authorizer_id=authorizer_id,
                opts=api_child,
            )
            for route_key in ROUTES
        ]
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{args.name_prefix}-inference",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=api.id,
            name="$default",
            auto_deploy=True,
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_rate_limit=args.spec.throttle_rate_limit,
                throttling_burst_limit=args.spec.throttle_burst_limit,
                detailed_metrics_enabled=True,
            ),
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn, format=ACCESS_LOG_FORMAT
            ),
            opts=pulumi.ResourceOptions(parent=api, depends_on=routes),
        )
        # Only this API, on its own routes, may invoke the function.
        aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(api.execution_arn, "/*/*"),
            opts=pulumi.ResourceOptions(parent=function),
        )

        topic = self._alarm_topic(name, args)
        self._alarms(name, args, topic, function.name, api.id)

        self.url = stage.invoke_url
        self.function_name = function.name
        self.api_id = api.id
        self.alarm_topic_arn = topic.arn
        self.register_outputs({"url": self.url, "alarmTopicArn": self.alarm_topic_arn})

    def _signing_secret(self, name: str, args: InferenceApiArgs) -> aws.secretsmanager.Secret:
        """The key that signs feedback ids on this path: generated, kept in Secrets Manager."""
        child = pulumi.ResourceOptions(parent=self)
        key = random.RandomPassword(f"{name}-feedback-signing-key", length=64, special=False, opts=child)
        secret = aws.secretsmanager.Secret(
            f"{name}-feedback-signing-key",
            name_prefix=f"{args.name_prefix}-feedback-signing-key-",
            description="Signs the inference API's feedback ids (the Lambda proxy reads it once per container)",
            recovery_window_in_days=7,
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-feedback-signing-key",
            secret_id=secret.id,
            secret_string=key.result,
            opts=pulumi.ResourceOptions(parent=secret),
        )
        return secret

    @staticmethod
    def _function_policy(
        args: InferenceApiArgs, log_group_arn: pulumi.Output[str], secret_arn: pulumi.Input[str]
    ) -> pulumi.Output[str]:
        capture = args.capture
        feedback = args.feedback

        def render(values: list[str]) -> str:
            endpoint_arn, logs_arn, capture_arn, capture_key, endpoint_name, labels_arn, labels_key, secret = values
            statements: list[dict[str, Any]] = [
                {
                    "Sid": "InvokeTheEndpoint",
                    "Effect": "Allow",
                    "Action": ["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
                    "Resource": [endpoint_arn],
                },
                {
                    "Sid": "OwnLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [f"{logs_arn}:*"],
                },
            ]
            if capture is not None:
                statements += [
                    {
                        "Sid": "WriteCapture",
                        "Effect": "Allow",
                        "Action": ["s3:PutObject"],
                        "Resource": [f"{capture_arn}/{endpoint_name}/proxy/*"],
                    },
                    {
                        "Sid": "CaptureKey",
                        "Effect": "Allow",
                        "Action": ["kms:GenerateDataKey"],
                        "Resource": [capture_key],
                    },
                ]
            if feedback is not None:
                statements += [
                    {
                        "Sid": "ReadSigningKey",
                        "Effect": "Allow",
                        "Action": ["secretsmanager:GetSecretValue"],
                        "Resource": [secret],
                    },
                    {
                        "Sid": "WriteLabels",
                        "Effect": "Allow",
                        "Action": ["s3:PutObject"],
                        "Resource": [f"{labels_arn}/{GROUND_TRUTH_PREFIX}/{endpoint_name}/*"],
                    },
                    {
                        "Sid": "LabelsKey",
                        "Effect": "Allow",
                        "Action": ["kms:GenerateDataKey"],
                        "Resource": [labels_key],
                    },
                ]
            return policy_document(*statements)

        return pulumi.Output.all(
            args.endpoint_arn,
            log_group_arn,
            capture.bucket.arn if capture else "",
            capture.bucket.kms_key_arn if capture else "",
            args.endpoint_name,
            feedback.bucket.arn if feedback else "",
            feedback.bucket.kms_key_arn if feedback else "",
            secret_arn,
        ).apply(render)

    def _alarm_topic(self, name: str, args: InferenceApiArgs) -> aws.sns.Topic:
        """An SNS topic encrypted with its own key, which CloudWatch may use to publish."""
        partition = arn_partition(args.region)
        key_policy = pulumi.Output.from_input(args.account_id).apply(
            lambda account: policy_document(
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchPublishes",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
            )
        )
        key = aws.kms.Key(
            f"{name}-alarms",
            description=f"Encryption of the {args.name_prefix} managed-inference alarm topic",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=key_policy,
            opts=pulumi.ResourceOptions(parent=self),
        )
        topic = aws.sns.Topic(
            f"{name}-alarms",
            name=f"{args.name_prefix}-inference-alarms",
            kms_master_key_id=key.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        for index, email in enumerate(args.spec.alarm_emails):
            aws.sns.TopicSubscription(
                f"{name}-alarms-email-{index}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=pulumi.ResourceOptions(parent=topic),
            )
        return topic

    def _alarms(
        self,
        name: str,
        args: InferenceApiArgs,
        topic: aws.sns.Topic,
        function_name: pulumi.Output[str],
        api_id: pulumi.Output[str],
    ) -> None:
        notify = [topic.arn]
        common: dict[str, Any] = {
            "alarm_actions": notify,
            "ok_actions": notify,
            "period": 300,
            "evaluation_periods": 1,
            "treat_missing_data": "notBreaching",
            "opts": pulumi.ResourceOptions(parent=topic),
        }
        thresholds = args.spec.thresholds
        function = {"FunctionName": function_name}
        endpoint = {"EndpointName": args.endpoint_name, "VariantName": args.variant_name}
        single: list[tuple[str, str, str, dict[str, Any], dict[str, Any], float, str]] = [
            ("lambda-errors", "AWS/Lambda", "Errors", function, {"statistic": "Sum"}, 1, "the proxy Lambda failed"),
            (
                "lambda-throttles",
                "AWS/Lambda",
                "Throttles",
                function,
                {"statistic": "Sum"},
                1,
                "the proxy Lambda was throttled",
            ),
            (
                "api-latency-p99",
                "AWS/ApiGateway",
                "Latency",
                {"ApiId": api_id},
                {"extended_statistic": "p99"},
                thresholds.api_latency_p99_ms,
                f"API p99 latency above {thresholds.api_latency_p99_ms} ms",
            ),
            (
                MODEL_LATENCY_ALARM,
                "AWS/SageMaker",
                "ModelLatency",
                endpoint,
                {"extended_statistic": "p99"},
                # ModelLatency is in microseconds.
                thresholds.model_latency_p99_ms * 1000,
                f"SageMaker ModelLatency p99 above {thresholds.model_latency_p99_ms} ms",
            ),
            (
                INVOCATION_ERRORS_ALARM,
                "AWS/SageMaker",
                "Invocation5XXErrors",
                endpoint,
                {"statistic": "Sum"},
                1,
                "the SageMaker endpoint answered with 5xx errors",
            ),
        ]
        for suffix, namespace, metric, dimensions, statistic, threshold, description in single:
            aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                name=alarm_name(args.name_prefix, suffix),
                alarm_description=f"{description}; runbook: {RUNBOOK_URL}",
                namespace=namespace,
                metric_name=metric,
                dimensions=dimensions,
                comparison_operator="GreaterThanOrEqualToThreshold",
                threshold=threshold,
                **statistic,
                **common,
            )
        # 5xx as a share of requests, so that a quiet hour with one failure does not page.
        api = {"ApiId": api_id}
        aws.cloudwatch.MetricAlarm(
            f"{name}-api-5xx-rate",
            name=alarm_name(args.name_prefix, "api-5xx-rate"),
            alarm_description=(f"API 5xx above {thresholds.api_5xx_percent}% of requests; runbook: {RUNBOOK_URL}"),
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=thresholds.api_5xx_percent,
            evaluation_periods=1,
            treat_missing_data="notBreaching",
            alarm_actions=notify,
            ok_actions=notify,
            metric_queries=[
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="errors",
                    metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                        namespace="AWS/ApiGateway", metric_name="5xx", dimensions=api, period=300, stat="Sum"
                    ),
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="requests",
                    metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                        namespace="AWS/ApiGateway", metric_name="Count", dimensions=api, period=300, stat="Sum"
                    ),
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="rate",
                    expression="IF(requests > 0, 100 * errors / requests, 0)",
                    label="5xx %",
                    return_data=True,
                ),
            ],
            opts=pulumi.ResourceOptions(parent=topic),
        )

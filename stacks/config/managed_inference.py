"""Config of the managed inference area: the SageMaker endpoint and the API in front of it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.inference_api import AlarmThresholds, ApiSpec, Authorization
from components.sagemaker_endpoint import ProvisionedCapacity, SageMakerMode, ServerlessCapacity
from components.training import TrainingSpec
from stacks.config.aws_catalog import near, sagemaker_instance_types
from stacks.config.reader import Reader


@dataclass(frozen=True)
class ManagedInferenceSpec:
    """Both components of the managed path; built once a model version is set."""

    enabled: bool
    capacity: ServerlessCapacity | ProvisionedCapacity
    data_capture_percent: int
    api: ApiSpec


def read(reader: Reader, aws_enabled: bool) -> ManagedInferenceSpec:
    enabled = reader.boolean("sagemakerEnabled")
    if enabled and not aws_enabled:
        reader.problem("sagemakerEnabled", True, "needs awsEnabled: true (SageMaker, Lambda and API Gateway are AWS)")
    return ManagedInferenceSpec(
        enabled=enabled,
        capacity=_capacity(reader),
        data_capture_percent=reader.integer("sagemakerDataCapturePercent", minimum=0, maximum=100),
        api=_api(reader),
    )


def _capacity(reader: Reader) -> ServerlessCapacity | ProvisionedCapacity:
    mode: SageMakerMode = reader.choice("sagemakerMode", SageMakerMode)
    memory = reader.integer("sagemakerServerlessMemoryMb", minimum=1024, maximum=6144)
    if memory % 1024:
        reader.problem("sagemakerServerlessMemoryMb", memory, "must be a multiple of 1024 (1024, 2048, ... 6144)")
    concurrency = reader.integer("sagemakerServerlessMaxConcurrency", minimum=1, maximum=200)
    instance_type = reader.string("sagemakerInstanceType")
    known = sagemaker_instance_types()
    if instance_type not in known:
        reader.problem(
            "sagemakerInstanceType",
            instance_type,
            f"not a SageMaker hosting instance type{near(instance_type, known, 3)}",
        )
    minimum = reader.integer("sagemakerInstanceCount", minimum=1)
    maximum = reader.integer("sagemakerMaxInstanceCount", minimum=1)
    if mode == "provisioned" and minimum < 2:
        reader.problem(
            "sagemakerInstanceCount",
            minimum,
            "must be at least 2 when provisioned (SageMaker spreads instances over AZs only with 2 or more; "
            "use sagemakerMode serverless for a cheap stack)",
        )
    reader.range_order("sagemakerInstanceCount", minimum, "sagemakerMaxInstanceCount", maximum)
    if mode == "provisioned":
        return ProvisionedCapacity(
            instance_type,
            minimum,
            maximum,
            reader.integer("sagemakerInvocationsPerInstance", minimum=1),
            canary_percent=reader.integer("sagemakerCanaryPercent", minimum=1, maximum=50),
            canary_wait_seconds=reader.integer("sagemakerCanaryWaitSeconds", minimum=60, maximum=3600),
        )
    return ServerlessCapacity(memory, concurrency)


def _api(reader: Reader) -> ApiSpec:
    authorization: Authorization = reader.choice("apiAuthorization", Authorization)
    issuer = reader.string("apiJwtIssuer")
    audiences = reader.string_list("apiJwtAudiences")
    if authorization == "jwt":
        if not issuer.startswith("https://"):
            reader.problem("apiJwtIssuer", issuer, "required as an https:// URL because apiAuthorization is jwt")
        if not audiences:
            reader.problem("apiJwtAudiences", [], "needs at least one audience because apiAuthorization is jwt")
    emails = reader.string_list("alarmEmails")
    reader.each(
        "alarmEmails",
        emails,
        lambda email: None if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) else "not an e-mail address",
    )
    return ApiSpec(
        authorization=authorization,
        jwt_issuer=issuer,
        jwt_audiences=audiences,
        throttle_rate_limit=reader.integer("apiThrottleRateLimit", minimum=1, maximum=10000),
        throttle_burst_limit=reader.integer("apiThrottleBurstLimit", minimum=1, maximum=5000),
        alarm_emails=emails,
        thresholds=AlarmThresholds(
            api_5xx_percent=reader.integer("alarmApi5xxPercent", minimum=1, maximum=100),
            api_latency_p99_ms=reader.integer("alarmApiLatencyP99Ms", minimum=1, maximum=30000),
            model_latency_p99_ms=reader.integer("alarmModelLatencyP99Ms", minimum=1, maximum=60000),
        ),
    )


def read_training(reader: Reader) -> TrainingSpec:
    instance_type = reader.string("trainingInstanceType")
    if not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", instance_type):
        reader.problem("trainingInstanceType", instance_type, "must be a SageMaker instance type (ml.<family>.<size>)")
    return TrainingSpec(instance_type=instance_type, spot=reader.boolean("trainingSpot"))

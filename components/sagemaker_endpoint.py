"""SageMakerEndpoint: the model image served by SageMaker, the managed twin of the cluster's pods.

The same container image runs here: SageMaker starts it with `serve`, unpacks the model archive
into /opt/ml/model and talks to it over `GET /ping` and `POST /invocations` on port 8080.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.artifact_store import ModelArtifact, StoredBucket
from components.iam import arn_partition, policy_document, service_role

VARIANT = "primary"
# Actions the execution role needs to pull the image; GetAuthorizationToken takes no resource.
ECR_PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")


# How the endpoint gets its compute: ServerlessCapacity or ProvisionedCapacity.
SageMakerMode = Literal["serverless", "provisioned"]


@dataclass(frozen=True)
class ServerlessCapacity:
    """Scales to zero; SageMaker supports neither data capture nor VPC/network isolation here."""

    memory_mb: int
    max_concurrency: int


# The endpoint's alarms, by name suffix (InferenceApi makes the first two, DriftMonitor the drift
# ones, with the metric each watches): a blue/green update rolls back when any of them fires.
INVOCATION_ERRORS_ALARM = "invocation-errors"
MODEL_LATENCY_ALARM = "model-latency-p99"
DRIFT_ALARMS = {"feature-drift": "MaxFeaturePSI", "prediction-shift": "PredictionPSI", "accuracy": "Accuracy"}


def alarm_name(name_prefix: str, suffix: str) -> str:
    return f"{name_prefix}-inference-{suffix}"


def rollback_alarm_names(name_prefix: str) -> tuple[str, ...]:
    """Every alarm on the endpoint that a blue/green update watches during its canary."""
    return tuple(
        alarm_name(name_prefix, suffix) for suffix in (INVOCATION_ERRORS_ALARM, MODEL_LATENCY_ALARM, *DRIFT_ALARMS)
    )


@dataclass(frozen=True)
class ProvisionedCapacity:
    """Instances spread over AZs, with target-tracking autoscaling on invocations per instance.
    A new model reaches them blue/green: `canary_percent` of the capacity first, for
    `canary_wait_seconds`, then all of it, rolled back if an endpoint alarm fires meanwhile."""

    instance_type: str
    min_instances: int
    max_instances: int
    invocations_per_instance: int
    canary_percent: int = 10
    canary_wait_seconds: int = 600


@dataclass(frozen=True)
class SageMakerEndpointArgs:
    endpoint_name: str
    image_uri: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    artifact: ModelArtifact
    capacity: ServerlessCapacity | ProvisionedCapacity
    capture_bucket: StoredBucket
    data_capture_percent: int
    region: str
    account_id: pulumi.Input[str]
    # Alarms a blue/green update watches (rollback_alarm_names); provisioned endpoints only.
    rollback_alarms: tuple[str, ...] = ()


def deployment_guardrails(
    capacity: ServerlessCapacity | ProvisionedCapacity, alarms: Sequence[str]
) -> aws.sagemaker.EndpointDeploymentConfigArgs | None:
    """Blue/green with a canary and automatic rollback on `alarms` (SageMaker offers deployment
    guardrails on instance-based endpoints only; a serverless endpoint is replaced at once)."""
    if not isinstance(capacity, ProvisionedCapacity):
        return None
    routing = aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationArgs(
        type="CANARY",
        canary_size=aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySizeArgs(
            type="CAPACITY_PERCENT", value=capacity.canary_percent
        ),
        wait_interval_in_seconds=capacity.canary_wait_seconds,
    )
    return aws.sagemaker.EndpointDeploymentConfigArgs(
        blue_green_update_policy=aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyArgs(
            traffic_routing_configuration=routing,
            # The old fleet stays this long after the switch, for an alarm that fires late.
            termination_wait_in_seconds=300,
            maximum_execution_timeout_in_seconds=capacity.canary_wait_seconds + 3600,
        ),
        auto_rollback_configuration=aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationArgs(
            alarms=[
                aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationAlarmArgs(alarm_name=name)
                for name in alarms
            ]
        ),
    )


def data_capture_enabled(args: SageMakerEndpointArgs) -> bool:
    """SageMaker captures on provisioned endpoints only; serverless capture is the proxy's job."""
    return isinstance(args.capacity, ProvisionedCapacity) and args.data_capture_percent > 0


class SageMakerEndpoint(pulumi.ComponentResource):
    """Execution role, Model, EndpointConfig (data capture, KMS), Endpoint and its autoscaling."""

    endpoint_name: pulumi.Output[str]
    endpoint_arn: pulumi.Output[str]
    variant_name: str

    def __init__(self, name: str, args: SageMakerEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:inference:SageMakerEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        provisioned = isinstance(args.capacity, ProvisionedCapacity)
        role, policy = service_role(
            f"{name}-execution",
            service="sagemaker.amazonaws.com",
            description=f"SageMaker execution role of endpoint {args.endpoint_name}",
            inline_policy=self._execution_policy(args),
            opts=child,
        )
        artifact = args.artifact
        model_data_url = artifact.archive_uri()
        # Auto-named, so that a new image or model version is created before the old one goes.
        model = aws.sagemaker.Model(
            f"{name}-model",
            execution_role_arn=role.arn,
            primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                image=args.image_uri,
                model_data_url=model_data_url,
                environment={"MODEL_DIR": "/opt/ml/model", "LOG_LEVEL": "INFO"},
            ),
            # The container needs no network: SageMaker itself fetches the image and the model.
            # Serverless endpoints do not support network isolation.
            enable_network_isolation=provisioned,
            tags={"model-version": artifact.version},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        variant: aws.sagemaker.EndpointConfigurationProductionVariantArgs
        if isinstance(args.capacity, ProvisionedCapacity):
            variant = aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                variant_name=VARIANT,
                model_name=model.name,
                instance_type=args.capacity.instance_type,
                initial_instance_count=args.capacity.min_instances,
            )
        else:
            variant = aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                variant_name=VARIANT,
                model_name=model.name,
                serverless_config=aws.sagemaker.EndpointConfigurationProductionVariantServerlessConfigArgs(
                    memory_size_in_mb=args.capacity.memory_mb,
                    max_concurrency=args.capacity.max_concurrency,
                ),
            )
        capture = None
        if data_capture_enabled(args):
            capture = aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
                enable_capture=True,
                initial_sampling_percentage=args.data_capture_percent,
                destination_s3_uri=pulumi.Output.concat("s3://", args.capture_bucket.name, "/", args.endpoint_name),
                kms_key_id=args.capture_bucket.kms_key_arn,
                capture_options=[
                    aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode="Input"),
                    aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode="Output"),
                ],
                capture_content_type_header=aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureContentTypeHeaderArgs(
                    json_content_types=["application/json"],
                    csv_content_types=["text/csv"],
                ),
            )
        endpoint_config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            production_variants=[variant],
            data_capture_config=capture,
            # Encrypts the instances' storage volumes; serverless endpoints have none to encrypt.
            kms_key_arn=artifact.bucket.kms_key_arn if provisioned else None,
            tags={"model-version": artifact.version},
            opts=child,
        )
        endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=args.endpoint_name,
            endpoint_config_name=endpoint_config.name,
            deployment_config=deployment_guardrails(args.capacity, args.rollback_alarms),
            opts=child,
        )
        if isinstance(args.capacity, ProvisionedCapacity):
            self._autoscaling(name, args.endpoint_name, args.capacity, endpoint)
        self.endpoint_name = endpoint.name
        self.endpoint_arn = endpoint.arn
        self.variant_name = VARIANT
        self.register_outputs({"endpointName": self.endpoint_name, "endpointArn": self.endpoint_arn})

    @staticmethod
    def _execution_policy(args: SageMakerEndpointArgs) -> pulumi.Output[str]:
        """Read the one model prefix, pull the one repository, write the endpoint's own logs and,
        with data capture, write its own capture prefix."""
        artifact = args.artifact
        partition = arn_partition(args.region)

        def render(values: list[str]) -> str:
            bucket_arn, kms_key_arn, repository_arn, capture_arn, account = values
            log_group = (
                f"arn:{partition}:logs:{args.region}:{account}:log-group:/aws/sagemaker/Endpoints/{args.endpoint_name}"
            )
            statements = [
                {
                    "Sid": "ReadModelArtifact",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": [f"{bucket_arn}/{artifact.prefix}/*"],
                },
                {
                    "Sid": "PullModelImage",
                    "Effect": "Allow",
                    "Action": list(ECR_PULL_ACTIONS),
                    "Resource": [repository_arn],
                },
                {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
                {
                    "Sid": "EndpointLogs",
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    "Resource": [log_group, f"{log_group}:*"],
                },
            ]
            if isinstance(args.capacity, ProvisionedCapacity):
                # The endpoint configuration's kms_key_arn encrypts the instances' volumes.
                statements.append(
                    {
                        "Sid": "EncryptVolumes",
                        "Effect": "Allow",
                        "Action": ["kms:CreateGrant", "kms:DescribeKey"],
                        "Resource": [kms_key_arn],
                    }
                )
            if data_capture_enabled(args):
                statements += [
                    {
                        "Sid": "WriteDataCapture",
                        "Effect": "Allow",
                        "Action": ["s3:PutObject"],
                        "Resource": [f"{capture_arn}/{args.endpoint_name}/*"],
                    },
                    {
                        "Sid": "EncryptDataCapture",
                        "Effect": "Allow",
                        "Action": ["kms:GenerateDataKey"],
                        "Resource": [kms_key_arn],
                    },
                ]
            return policy_document(*statements)

        return pulumi.Output.all(
            artifact.bucket.arn,
            artifact.bucket.kms_key_arn,
            args.repository_arn,
            args.capture_bucket.arn,
            args.account_id,
        ).apply(render)

    def _autoscaling(
        self, name: str, endpoint_name: str, capacity: ProvisionedCapacity, endpoint: aws.sagemaker.Endpoint
    ) -> None:
        target = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="sagemaker",
            resource_id=f"endpoint/{endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=capacity.min_instances,
            max_capacity=capacity.max_instances,
            opts=pulumi.ResourceOptions(parent=endpoint, depends_on=[endpoint]),
        )
        aws.appautoscaling.Policy(
            f"{name}-invocations",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=capacity.invocations_per_instance,
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance",
                ),
                scale_in_cooldown=300,
                scale_out_cooldown=60,
            ),
            opts=pulumi.ResourceOptions(parent=target),
        )

"""DriftMonitor: the managed path's model quality, from what its endpoint captured.

A Lambda (drift_monitor/handler.py, with the drift contract the pods follow) runs on an
EventBridge schedule, reads the last window of captured requests and the labels kept for the
endpoint, and publishes feature PSI and KS, prediction PSI and accuracy to CloudWatch; alarms on
them notify the inference alarm topic. Its role reads exactly the endpoint's capture prefixes, its
labels and the served model's archive, and may publish metrics to its own namespace only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.artifact_store import ModelArtifact, StoredBucket
from components.iam import policy_document
from components.inference_api import RUNBOOK_URL
from components.python_function import PythonFunctionSpec, python_function
from components.sagemaker_endpoint import DRIFT_ALARMS, alarm_name
from model_service.artifact_files import ARCHIVE_FILE
from model_service.drift_contract import CLOUDWATCH_NAMESPACE as NAMESPACE
from monitoring.rules import ACCURACY_FLOOR

REPO = Path(__file__).resolve().parent.parent
FUNCTION_FILES = {
    "handler.py": REPO / "drift_monitor" / "handler.py",
    "model_service/__init__.py": REPO / "model_service" / "__init__.py",
    "model_service/drift_contract.py": REPO / "model_service" / "drift_contract.py",
    "model_service/capture_format.py": REPO / "model_service" / "capture_format.py",
}
SCHEDULE = "rate(15 minutes)"
WINDOW_MINUTES = 60
# PSI over the monitor's one-hour window (the cluster's alerts read ten minutes, where sampling
# noise is larger: monitoring.rules); the accuracy floor is the cluster's.
PSI_CRITICAL = 0.25


@dataclass(frozen=True)
class DriftMonitorArgs:
    name_prefix: str
    endpoint_name: pulumi.Input[str]
    capture_bucket: StoredBucket
    # Prefixes (under the capture bucket) that hold the endpoint's captured requests and labels.
    capture_prefixes: Sequence[pulumi.Input[str]]
    ground_truth_prefix: pulumi.Input[str]
    model: ModelArtifact
    alarm_topic_arn: pulumi.Input[str]
    log_retention_days: int


class DriftMonitor(pulumi.ComponentResource):
    function_name: pulumi.Output[str]

    def __init__(self, name: str, args: DriftMonitorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:inference:DriftMonitor", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        function_name = f"{args.name_prefix}-drift-monitor"
        function = python_function(
            name,
            PythonFunctionSpec(
                function_name=function_name,
                description="Drift and accuracy of the SageMaker endpoint from its captured data",
                role_description=f"Lambda {function_name}: read one endpoint's capture and labels, "
                "publish quality metrics",
                files=FUNCTION_FILES,
                policy=lambda logs_arn: self._policy(args, logs_arn),
                environment={
                    "ENDPOINT_NAME": args.endpoint_name,
                    "CAPTURE_BUCKET": args.capture_bucket.name,
                    "CAPTURE_PREFIXES": pulumi.Output.all(*args.capture_prefixes).apply(",".join),
                    "GROUND_TRUTH_PREFIX": args.ground_truth_prefix,
                    "MODEL_ARCHIVE_URI": args.model.archive_uri(),
                    "WINDOW_MINUTES": str(WINDOW_MINUTES),
                },
                memory_size=512,
                timeout=300,
                log_retention_days=args.log_retention_days,
            ),
            parent=self,
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            name=f"{args.name_prefix}-drift-monitor",
            description=f"Evaluate the endpoint's last {WINDOW_MINUTES} minutes of captured data",
            schedule_expression=SCHEDULE,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-schedule", rule=rule.name, arn=function.arn, opts=pulumi.ResourceOptions(parent=rule)
        )
        aws.lambda_.Permission(
            f"{name}-schedule",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=pulumi.ResourceOptions(parent=function),
        )
        self._alarms(name, args)
        self.function_name = function.name
        self.register_outputs({"functionName": function.name})

    @staticmethod
    def _policy(args: DriftMonitorArgs, log_group_arn: pulumi.Output[str]) -> pulumi.Output[str]:
        def render(values: list[Any]) -> str:
            logs_arn, capture_arn, capture_key, models_arn, models_key, labels_prefix, *prefixes = values
            readable = [*prefixes, labels_prefix]
            return policy_document(
                {
                    "Sid": "ListCapturedData",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": [capture_arn],
                    "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*" for prefix in readable]}},
                },
                {
                    "Sid": "ReadCapturedData",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": [f"{capture_arn}/{prefix}/*" for prefix in readable],
                },
                {
                    "Sid": "ReadServedModel",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": [f"{models_arn}/{args.model.prefix}/{args.model.version}/{ARCHIVE_FILE}"],
                },
                {
                    "Sid": "DecryptData",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt"],
                    "Resource": sorted({capture_key, models_key}),
                },
                {
                    "Sid": "PublishQualityMetrics",
                    "Effect": "Allow",
                    "Action": ["cloudwatch:PutMetricData"],
                    "Resource": "*",  # PutMetricData takes no resource; the namespace is the scope
                    "Condition": {"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
                },
                {
                    "Sid": "OwnLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [f"{logs_arn}:*"],
                },
            )

        return pulumi.Output.all(
            log_group_arn,
            args.capture_bucket.arn,
            args.capture_bucket.kms_key_arn,
            args.model.bucket.arn,
            args.model.bucket.kms_key_arn,
            args.ground_truth_prefix,
            *args.capture_prefixes,
        ).apply(render)

    def _alarms(self, name: str, args: DriftMonitorArgs) -> None:
        notify = [args.alarm_topic_arn]
        endpoint = {"EndpointName": args.endpoint_name}
        meanings = {
            "MaxFeaturePSI": ("GreaterThanThreshold", PSI_CRITICAL, "a feature has shifted"),
            "PredictionPSI": ("GreaterThanThreshold", PSI_CRITICAL, "predicted classes shifted"),
            "Accuracy": ("LessThanThreshold", ACCURACY_FLOOR, "accuracy on labels is below the floor"),
        }
        for suffix, metric in DRIFT_ALARMS.items():
            operator, threshold, meaning = meanings[metric]
            aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                name=alarm_name(args.name_prefix, suffix),
                alarm_description=f"{meaning} (captured data of the endpoint, last {WINDOW_MINUTES} min); "
                f"runbook: {RUNBOOK_URL}",
                namespace=NAMESPACE,
                metric_name=metric,
                dimensions=endpoint,
                statistic="Maximum" if operator == "GreaterThanThreshold" else "Minimum",
                period=900,
                evaluation_periods=2,
                datapoints_to_alarm=2,
                comparison_operator=operator,
                threshold=threshold,
                # No captured rows (or too few labels) publishes nothing: not an alarm, not OK either.
                treat_missing_data="ignore",
                alarm_actions=notify,
                ok_actions=notify,
                opts=pulumi.ResourceOptions(parent=self),
            )

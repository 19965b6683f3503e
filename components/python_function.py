"""A Python Lambda function of this repository: its package, its own log group (made first, so
Lambda does not make one without a retention) and its own role with an inline policy."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.iam import service_role


@dataclass(frozen=True)
class PythonFunctionSpec:
    function_name: str
    description: str
    role_description: str
    # Archive path -> file in this repository (the handler is `handler.handle`).
    files: Mapping[str, Path]
    # The role's inline policy, given the ARN of the function's log group.
    policy: Callable[[pulumi.Output[str]], pulumi.Input[str]]
    environment: Mapping[str, pulumi.Input[str]]
    memory_size: int
    timeout: int
    log_retention_days: int
    tracing: bool = False


def python_function(name: str, spec: PythonFunctionSpec, parent: pulumi.Resource) -> aws.lambda_.Function:
    child = pulumi.ResourceOptions(parent=parent)
    logs = aws.cloudwatch.LogGroup(
        f"{name}-function-logs",
        name=f"/aws/lambda/{spec.function_name}",
        retention_in_days=spec.log_retention_days,
        opts=child,
    )
    role, role_policy = service_role(
        f"{name}-function",
        service="lambda.amazonaws.com",
        description=spec.role_description,
        inline_policy=spec.policy(logs.arn),
        opts=child,
    )
    return aws.lambda_.Function(
        f"{name}-function",
        name=spec.function_name,
        description=spec.description,
        runtime="python3.12",
        architectures=["arm64"],
        handler="handler.handle",
        code=pulumi.AssetArchive({key: pulumi.FileAsset(str(path)) for key, path in spec.files.items()}),
        role=role.arn,
        memory_size=spec.memory_size,
        timeout=spec.timeout,
        environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(spec.environment)),
        logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=logs.name),
        tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="PassThrough") if spec.tracing else None,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[logs, role_policy]),
    )

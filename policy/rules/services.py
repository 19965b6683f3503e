"""ECR, SageMaker, Lambda, API Gateway, CloudWatch, and the tags every AWS resource carries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from .common import (
    REQUIRED_TAGS,
    Report,
    _resource_policy,
)


def _ecr_scan_on_push(args: ResourceValidationArgs, report: Report) -> None:
    if (args.props.get("imageScanningConfiguration") or {}).get("scanOnPush") is not True:
        report(f"repository {args.name} does not scan images on push")


def _ecr_immutable(args: ResourceValidationArgs, report: Report) -> None:
    if args.props.get("imageTagMutability") not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
        report(f"repository {args.name} has mutable tags ({args.props.get('imageTagMutability', 'MUTABLE')})")


def _sagemaker_encrypted_and_captured(args: ResourceValidationArgs, report: Report) -> None:
    variants = args.props.get("productionVariants") or []
    serverless = bool(variants) and all(variant.get("serverlessConfig") for variant in variants)
    if serverless:
        # SageMaker offers neither storage volumes to encrypt nor data capture on serverless
        # endpoints; the platform's proxy captures there instead.
        return
    if not args.props.get("kmsKeyArn"):
        report(f"endpoint configuration {args.name} does not encrypt its instances' volumes with KMS (kms_key_arn)")
    capture = args.props.get("dataCaptureConfig") or {}
    if capture.get("enableCapture") is False or not capture:
        report(f"endpoint configuration {args.name} does not capture inference data (data_capture_config)")
    elif not capture.get("kmsKeyId"):
        report(f"endpoint configuration {args.name} captures data without KMS encryption (kms_key_id)")


def _lambda_not_public(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    if args.resource_type == "aws:lambda/functionUrl:FunctionUrl":
        if props.get("authorizationType") == "NONE":
            report(f"function URL {args.name} lets anyone invoke the function (authorization_type NONE)")
        return
    principal = str(props.get("principal", ""))
    if principal == "*":
        report(f"permission {args.name} lets anyone invoke the function (principal '*')")
    elif principal.endswith(".amazonaws.com") and not (props.get("sourceArn") or props.get("sourceAccount")):
        report(f"permission {args.name} lets {principal} invoke the function for any account (no source_arn)")


def _api_throttled_and_logged(args: ResourceValidationArgs, report: Report) -> None:
    settings = args.props.get("defaultRouteSettings") or {}
    if not (settings.get("throttlingRateLimit") and settings.get("throttlingBurstLimit")):
        report(f"stage {args.name} does not throttle (default_route_settings rate and burst limits)")
    if not (args.props.get("accessLogSettings") or {}).get("destinationArn"):
        report(f"stage {args.name} writes no access logs (access_log_settings)")


def _api_no_anonymous_routes(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == "aws:apigateway/method:Method":
        if str(args.props.get("authorization", "NONE")).upper() == "NONE":
            report(
                f"method {args.props.get('httpMethod', '')} {args.name} admits anonymous callers (authorization NONE)"
            )
        return
    if args.props.get("authorizationType", "NONE") == "NONE":
        report(f"route {args.props.get('routeKey', args.name)} admits anonymous callers (authorization_type NONE)")


def _log_retention(args: ResourceValidationArgs, report: Report) -> None:
    if not args.props.get("retentionInDays"):
        report(f"log group {args.props.get('name', args.name)} keeps logs forever (retention_in_days not set)")


# --- Tags --------------------------------------------------------------------------------------


def _default_tags(provider_props: Mapping[str, Any]) -> Mapping[str, Any]:
    default_tags = provider_props.get("defaultTags") or {}
    if isinstance(default_tags, str):  # providers receive their inputs as JSON strings
        default_tags = json.loads(default_tags)
    return default_tags.get("tags") or {}


def _tagged(args: ResourceValidationArgs, report: Report) -> None:
    if not args.resource_type.startswith("aws:"):
        return
    tags = dict(_default_tags(args.provider.props) if args.provider else {})
    tags.update(args.props.get("tagsAll") or {})
    tags.update(args.props.get("tags") or {})
    missing = [key for key in REQUIRED_TAGS if not tags.get(key)]
    if missing:
        report(f"{args.name} is missing the tags {', '.join(missing)} (set them as the AWS provider's default tags)")


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    _resource_policy(
        "ecr-scan-on-push",
        "ECR repositories scan every pushed image for vulnerabilities.",
        "Set image_scanning_configuration.scan_on_push = True.",
        ["aws:ecr/repository:Repository"],
        _ecr_scan_on_push,
    ),
    _resource_policy(
        "ecr-immutable-tags",
        "ECR image tags cannot be overwritten, so a tag names one image forever.",
        "Set image_tag_mutability = 'IMMUTABLE' and tag images with the commit.",
        ["aws:ecr/repository:Repository"],
        _ecr_immutable,
    ),
    _resource_policy(
        "sagemaker-kms-and-data-capture",
        "Provisioned SageMaker endpoints encrypt their volumes and capture inference data with KMS.",
        "Set kms_key_arn and data_capture_config (with kms_key_id) on the endpoint configuration.",
        ["aws:sagemaker/endpointConfiguration:EndpointConfiguration"],
        _sagemaker_encrypted_and_captured,
    ),
    _resource_policy(
        "lambda-no-public-invoke",
        "No Lambda function can be invoked by anyone, or by a service on behalf of any account.",
        "Give lambda.Permission a specific principal and a source_arn; never a function URL without auth.",
        ["aws:lambda/permission:Permission", "aws:lambda/functionUrl:FunctionUrl"],
        _lambda_not_public,
    ),
    _resource_policy(
        "apigateway-throttled-and-logged",
        "API Gateway stages throttle requests and write access logs.",
        "Set default_route_settings throttling limits and access_log_settings with a log group.",
        ["aws:apigatewayv2/stage:Stage"],
        _api_throttled_and_logged,
    ),
    _resource_policy(
        "apigateway-no-anonymous-routes",
        "Every API Gateway route (HTTP API) and method (REST API) requires IAM or an authorizer.",
        "Set authorization_type AWS_IAM, or JWT with an authorizer (apiAuthorization in the stack config).",
        ["aws:apigatewayv2/route:Route", "aws:apigateway/method:Method"],
        _api_no_anonymous_routes,
    ),
    _resource_policy(
        "cloudwatch-log-retention",
        "Every CloudWatch log group expires its logs.",
        "Set retention_in_days (logRetentionDays in the stack config).",
        ["aws:cloudwatch/logGroup:LogGroup"],
        _log_retention,
    ),
    _resource_policy(
        "aws-tagged",
        "Every AWS resource carries the project, stack, owner and cost-center tags.",
        "Create AWS resources through the stack's provider, whose default tags carry them (stacks.platform).",
        None,
        _tagged,
    ),
]

"""The platform's mandatory policies, each with a description and the remediation to apply.

`pulumi preview --policy-pack policy` runs them against every resource a stack would register;
the tests feed them each stack's resources under Pulumi mocks, so a violation fails `pytest` first.
A value not known yet (an unresolved output during preview) is not judged: reading it raises
inside pulumi-policy, which skips the check until `pulumi up` knows the value.

Kept in one module: the Pulumi CLI runs the pack from this folder (`import rules`), the tests
import it as `policy.rules`.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, cast

import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
REQUIRED_TAGS = ("project", "stack", "owner", "cost-center")
# General-purpose buckets, under both names pulumi-aws 7 registers them by.
BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
DIRECTORY_BUCKET = "aws:s3/directoryBucket:DirectoryBucket"
EKS_CLUSTER_TYPES = ("eks:index:Cluster", "aws:eks/cluster:Cluster")
# The bucket's settings are resources of their own; pulumi-aws 7 still accepts the V2 names.
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
BUCKET_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
IAM_POLICY_TYPES = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
POLICY_ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
# Resource policies: who else may use a resource.
RESOURCE_POLICY_TYPES = (
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:kms/key:Key",
    "aws:kms/keyPolicy:KeyPolicy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy",
    "aws:sqs/queuePolicy:QueuePolicy",
    "aws:sns/topicPolicy:TopicPolicy",
)
SECURITY_GROUP_TYPES = (
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
)
# Reads that hand out data or secrets: never on every resource.
SENSITIVE_READS = frozenset(
    {
        "secretsmanager:GetSecretValue",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "kms:Decrypt",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:GetParametersByPath",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
    }
)
# More public addresses than a /8 in one place is the internet, however it is split.
INTERNET_SIZE = 2**24
ADMIN_POLICY_NAMES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
# An action is read-only when its verb is one of these (AWS's "Read" and "List" access levels).
READ_VERBS = ("Get", "List", "Describe", "Search", "Select", "Lookup", "Query", "Filter", "BatchGet", "Scan", "View")
# Read-level actions whose verb does not say so (CloudWatch Logs Insights queries).
READ_ACTIONS = frozenset({"logs:StartQuery", "logs:StopQuery"})
REQUIRED_CONTROL_PLANE_LOGS = ("api", "audit", "authenticator")
OUR_CHARTS = ("model-service",)
WORKLOAD_TYPES = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
)


class Report(Protocol):
    """pulumi-policy's report callback: the urn defaults to the resource being validated."""

    def __call__(self, message: str, urn: str | None = None) -> None: ...


Validate = Callable[[ResourceValidationArgs, Report], None]


def _resource_policy(
    name: str, description: str, remediation: str, types: Iterable[str] | None, check: Validate
) -> ResourceValidationPolicy:
    wanted = tuple(types) if types is not None else None

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if wanted is None or args.resource_type in wanted:
            check(args, cast(Report, report))

    return ResourceValidationPolicy(
        name=name,
        description=description,
        remediation_steps=remediation,
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate,
    )


def _stack_policy(
    name: str, description: str, remediation: str, check: Callable[[StackValidationArgs, Report], None]
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        check(args, cast(Report, report))

    return StackValidationPolicy(
        name=name,
        description=description,
        remediation_steps=remediation,
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate,
    )


# --- S3 ----------------------------------------------------------------------------------------


def _settings_of(
    bucket: PolicyResource, resources: list[PolicyResource], types: tuple[str, ...]
) -> list[PolicyResource]:
    """The resources of `types` that configure `bucket` (their `bucket` input comes from it)."""
    return [
        resource
        for resource in resources
        if resource.resource_type in types
        and any(dependency.urn == bucket.urn for dependency in resource.property_dependencies.get("bucket", []))
    ]


def _each_bucket(
    check: Callable[[PolicyResource, list[PolicyResource]], str | None],
) -> Callable[[StackValidationArgs, Report], None]:
    def validate(args: StackValidationArgs, report: Report) -> None:
        for bucket in args.resources:
            if bucket.resource_type in BUCKET_TYPES:
                problem = check(bucket, args.resources)
                if problem:
                    report(f"bucket {bucket.name}: {problem}", bucket.urn)

    return validate


def _public_access_blocked(bucket: PolicyResource, resources: list[PolicyResource]) -> str | None:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    blocks = _settings_of(bucket, resources, PUBLIC_ACCESS_BLOCK)
    if not any(all(block.props.get(flag) is True for flag in flags) for block in blocks):
        return "has no BucketPublicAccessBlock with all four settings true"
    return None


def _log_target(bucket: PolicyResource, resources: list[PolicyResource]) -> bool:
    """Is the bucket where other buckets' server access logs go?"""
    return any(
        resource.resource_type in LOGGING
        and any(dependency.urn == bucket.urn for dependency in resource.property_dependencies.get("targetBucket", []))
        for resource in resources
    )


def _encrypted(bucket: PolicyResource, resources: list[PolicyResource]) -> str | None:
    # Named exemption: S3 delivers server access logs only to a bucket with S3-managed keys.
    accepted = ("aws:kms", "aws:kms:dsse", "AES256") if _log_target(bucket, resources) else ("aws:kms", "aws:kms:dsse")
    for configuration in _settings_of(bucket, resources, ENCRYPTION):
        for rule in configuration.props.get("rules") or []:
            algorithm = (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
            if algorithm in accepted:
                return None
    return "has no default encryption with a KMS key (BucketServerSideEncryptionConfiguration, sse_algorithm aws:kms)"


def _versioned(bucket: PolicyResource, resources: list[PolicyResource]) -> str | None:
    for versioning in _settings_of(bucket, resources, VERSIONING):
        if (versioning.props.get("versioningConfiguration") or {}).get("status") == "Enabled":
            return None
    return "is not versioned (BucketVersioning with status Enabled)"


def _denies_insecure_transport(statement: Mapping[str, Any]) -> bool:
    condition = statement.get("Condition") or {}
    secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
    return statement.get("Effect") == "Deny" and str(secure).lower() == "false"


def _tls_only(bucket: PolicyResource, resources: list[PolicyResource]) -> str | None:
    for bucket_policy in _settings_of(bucket, resources, BUCKET_POLICY):
        document = bucket_policy.props.get("policy")
        if not isinstance(document, str):
            return None  # not known until apply
        if any(_denies_insecure_transport(s) for s in _statements(json.loads(document))):
            return None
    return "has no bucket policy that denies requests without TLS (aws:SecureTransport false)"


def _access_logged(bucket: PolicyResource, resources: list[PolicyResource]) -> str | None:
    if _log_target(bucket, resources) or _settings_of(bucket, resources, LOGGING):
        return None
    return "writes no server access logs (BucketLogging to the access-log bucket)"


# --- ECR, EKS ----------------------------------------------------------------------------------


def _ecr_scan_on_push(args: ResourceValidationArgs, report: Report) -> None:
    if (args.props.get("imageScanningConfiguration") or {}).get("scanOnPush") is not True:
        report(f"repository {args.name} does not scan images on push")


def _ecr_immutable(args: ResourceValidationArgs, report: Report) -> None:
    if args.props.get("imageTagMutability") not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
        report(f"repository {args.name} has mutable tags ({args.props.get('imageTagMutability', 'MUTABLE')})")


def _eks_settings(args: ResourceValidationArgs) -> dict[str, Any]:
    """pulumi-eks's Cluster and the plain aws.eks.Cluster say the same things in two shapes."""
    props = args.props
    if args.resource_type == "eks:index:Cluster":
        return {
            "secrets_key": props.get("encryptionConfigKeyArn"),
            "log_types": props.get("enabledClusterLogTypes") or [],
            "private": props.get("endpointPrivateAccess"),
            "public": props.get("endpointPublicAccess"),
            "cidrs": props.get("publicAccessCidrs"),
        }
    vpc = props.get("vpcConfig") or {}
    secrets_key = next(
        (
            (config.get("provider") or {}).get("keyArn")
            for config in _as_list(props.get("encryptionConfig") or [])
            if "secrets" in (config.get("resources") or [])
        ),
        None,
    )
    return {
        "secrets_key": secrets_key,
        "log_types": props.get("enabledClusterLogTypes") or [],
        # The EKS API's defaults: public on, private off.
        "private": vpc.get("endpointPrivateAccess", False),
        "public": vpc.get("endpointPublicAccess", True),
        "cidrs": vpc.get("publicAccessCidrs"),
    }


PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def covers_the_internet(cidrs: Iterable[str]) -> bool:
    """Do these ranges, together, admit more public addresses than INTERNET_SIZE? Splitting
    0.0.0.0/0 into pieces does not make it smaller."""
    networks: list[ipaddress.IPv4Network] = []
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr, strict=False)
        if isinstance(network, ipaddress.IPv4Network):
            networks.append(network)
        elif network.prefixlen <= 8:  # IPv6: a /8 or larger is the internet
            return True
    public = 0
    for network in ipaddress.collapse_addresses(networks):
        inside = sum(block.num_addresses for block in PRIVATE_RANGES if block.subnet_of(network))
        public += 0 if any(network.subnet_of(block) for block in PRIVATE_RANGES) else network.num_addresses - inside
    return public > INTERNET_SIZE


def _eks_secrets_encrypted(args: ResourceValidationArgs, report: Report) -> None:
    if not _eks_settings(args)["secrets_key"]:
        report(f"cluster {args.name} does not encrypt Kubernetes secrets with a KMS key")


def _eks_control_plane_logs(args: ResourceValidationArgs, report: Report) -> None:
    enabled = set(_eks_settings(args)["log_types"])
    missing = [kind for kind in REQUIRED_CONTROL_PLANE_LOGS if kind not in enabled]
    if missing:
        report(f"cluster {args.name} does not log {', '.join(missing)} from its control plane")


def _eks_endpoint_restricted(args: ResourceValidationArgs, report: Report) -> None:
    settings = _eks_settings(args)
    if settings["private"] is not True:
        report(f"cluster {args.name} has no private API endpoint")
    if settings["public"] is False:
        return
    cidrs = settings["cidrs"]
    if not cidrs:
        report(f"cluster {args.name} exposes its API to the whole internet (no publicAccessCidrs)")
    elif covers_the_internet(cidrs):
        report(f"cluster {args.name} exposes its API to the whole internet ({', '.join(cidrs)})")


# --- IAM ---------------------------------------------------------------------------------------


def _statements(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _is_write(action: str) -> bool:
    if action in READ_ACTIONS:
        return False
    verb = action.split(":", 1)[-1]
    return not verb.startswith(READ_VERBS)


def iam_problems(document: Any) -> list[str]:
    """What is wrong with an IAM identity policy document: wildcard actions, or write actions on
    every resource."""
    problems = []
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in _as_list(statement.get("Action", []))]
        wildcards = [a for a in actions if "*" in a]
        if wildcards:
            problems.append(f"allows wildcard actions {wildcards}")
        if "NotAction" in statement:
            problems.append("allows NotAction (everything but a list)")
        if "*" in _as_list(statement.get("Resource", [])):
            writes = [a for a in actions if "*" not in a and _is_write(a)]
            if writes:
                problems.append(f"allows write actions {writes} on Resource '*'")
            sensitive = [a for a in actions if a in SENSITIVE_READS]
            if sensitive:
                problems.append(f"allows reading data or secrets {sensitive} on Resource '*'")
    return problems


def _everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any("*" in _as_list(value) for value in principal.values())
    return False


def trust_problems(document: Any) -> list[str]:
    """What is wrong with a role's trust policy: anyone may assume it, or a web identity (OIDC)
    trust names no subject, so every service account of the cluster may."""
    problems = []
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if _everyone(statement.get("Principal")) and not statement.get("Condition"):
            problems.append("lets anyone assume it (Principal '*' without a condition)")
        federated = (
            (statement.get("Principal") or {}).get("Federated")
            if isinstance(statement.get("Principal"), dict)
            else None
        )
        if federated and "sts:AssumeRoleWithWebIdentity" in _as_list(statement.get("Action", [])):
            keys = [key for operator in (statement.get("Condition") or {}).values() for key in operator]
            if not any(key.endswith(":sub") for key in keys):
                problems.append("trusts a web identity provider without a :sub condition (any of its identities)")
    return problems


def resource_policy_problems(document: Any) -> list[str]:
    """A resource policy that lets anyone in: an Allow for Principal '*' with no condition."""
    return [
        f"allows {_as_list(statement.get('Action', []))} to anyone (Principal '*' without a condition)"
        for statement in _statements(document)
        if statement.get("Effect") == "Allow"
        and _everyone(statement.get("Principal"))
        and not statement.get("Condition")
    ]


def _judge_documents(
    args: ResourceValidationArgs, report: Report, documents: Iterable[Any], judge: Callable[[Any], list[str]]
) -> None:
    for document in documents:
        if not isinstance(document, str) or not document:
            continue  # not known until apply, or none
        for problem in judge(json.loads(document)):
            report(f"{args.name} {problem}")


def _iam_trust_scoped(args: ResourceValidationArgs, report: Report) -> None:
    _judge_documents(args, report, [args.props.get("assumeRolePolicy")], trust_problems)


def _resource_policies_not_public(args: ResourceValidationArgs, report: Report) -> None:
    _judge_documents(args, report, [args.props.get("policy")], resource_policy_problems)


def _iam_least_privilege(args: ResourceValidationArgs, report: Report) -> None:
    documents = []
    if args.resource_type == "aws:iam/role:Role":
        documents = [inline.get("policy") for inline in args.props.get("inlinePolicies") or []]
    else:
        documents = [args.props.get("policy")]
    _judge_documents(args, report, documents, iam_problems)


def _iam_no_admin_policies(args: ResourceValidationArgs, report: Report) -> None:
    arns = (
        [args.props.get("policyArn")] if "policyArn" in args.props else list(args.props.get("managedPolicyArns") or [])
    )
    for arn in arns:
        if isinstance(arn, str) and arn.rsplit("/", 1)[-1] in ADMIN_POLICY_NAMES:
            report(f"{args.name} attaches the administrator policy {arn}")


def _kms_rotation(args: ResourceValidationArgs, report: Report) -> None:
    spec = args.props.get("customerMasterKeySpec") or args.props.get("keySpec") or "SYMMETRIC_DEFAULT"
    if spec == "SYMMETRIC_DEFAULT" and args.props.get("enableKeyRotation") is not True:
        report(f"key {args.name} is not rotated (enable_key_rotation)")


def _ingress_ranges(args: ResourceValidationArgs) -> list[str]:
    props = args.props
    if args.resource_type == "aws:ec2/securityGroup:SecurityGroup":
        return [
            cidr
            for rule in props.get("ingress") or []
            for cidr in [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]
        ]
    if args.resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule":
        if props.get("type") != "ingress":
            return []
        return [*(props.get("cidrBlocks") or []), *(props.get("ipv6CidrBlocks") or [])]
    return [cidr for cidr in (props.get("cidrIpv4"), props.get("cidrIpv6")) if cidr]


def _no_world_ingress(args: ResourceValidationArgs, report: Report) -> None:
    ranges = _ingress_ranges(args)
    if ranges and covers_the_internet(ranges):
        report(f"security group {args.name} admits the whole internet ({', '.join(ranges)})")


def _vpc_cni_enforces_policies(args: ResourceValidationArgs, report: Report) -> None:
    if args.props.get("addonName") != "vpc-cni":
        return
    configuration = args.props.get("configurationValues")
    values = json.loads(configuration) if isinstance(configuration, str) and configuration else {}
    if str(values.get("enableNetworkPolicy", "false")).lower() != "true":
        report(f"add-on {args.name} does not enforce NetworkPolicies (configuration enableNetworkPolicy)")


def _no_directory_buckets(args: ResourceValidationArgs, report: Report) -> None:
    report(
        f"directory bucket {args.name}: S3 Express buckets support neither versioning nor the platform's "
        "bucket policies"
    )


# --- SageMaker, Lambda, API Gateway, CloudWatch --------------------------------------------------


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


# --- Kubernetes workloads of our own charts ----------------------------------------------------


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            _merge(merged[key], value) if isinstance(value, Mapping) and isinstance(merged.get(key), dict) else value
        )
    return merged


def _chart_path(chart: str) -> Path:
    """A release's chart as the program names it: relative to the project directory."""
    path = Path(chart)
    return path if path.is_absolute() else PROJECT_DIR / path


def _chart_values(chart: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values a release of a local chart runs with: the chart's values.yaml under the release's."""
    defaults_file = _chart_path(chart) / "values.yaml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.is_file() else {}
    return _merge(defaults or {}, values)


def _our_chart_runs_nonroot_with_limits(args: ResourceValidationArgs, report: Report) -> None:
    chart = str(args.props.get("chart", ""))
    if Path(chart).name not in OUR_CHARTS:
        return
    values = _chart_values(chart, args.props.get("values") or {})
    limits = (values.get("resources") or {}).get("limits") or {}
    if not (limits.get("cpu") and limits.get("memory")):
        report(
            f"release {args.name} of {Path(chart).name} runs without CPU and memory limits (values.resources.limits)"
        )
    for key in ("podSecurityContext", "securityContext"):
        if (values.get(key) or {}).get("runAsNonRoot") is False or (values.get(key) or {}).get("runAsUser") == 0:
            report(f"release {args.name} of {Path(chart).name} runs as root (values.{key})")


POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
HOST_ACCESS = ("hostNetwork", "hostPID", "hostIPC")
# Named, reasoned exceptions: (release, kind, name) -> what it may do and why.
POD_SECURITY_EXEMPTIONS: dict[tuple[str, str, str], tuple[frozenset[str], str]] = {
    ("kube-prometheus-stack", "DaemonSet", "kube-prometheus-stack-prometheus-node-exporter"): (
        frozenset({"hostNetwork", "hostPID", "hostPath"}),
        "node-exporter reports the node itself: its network, processes and file systems (/proc, /sys, /)",
    ),
}


def pod_security_problems(pod: Mapping[str, Any], allowed: frozenset[str] = frozenset()) -> list[str]:
    """What a pod spec does that the cluster's pods may not: share the node's namespaces, mount
    its paths, run privileged or as root, add capabilities, or run without a memory limit."""
    problems = [f"uses {key}" for key in HOST_ACCESS if pod.get(key) and key not in allowed]
    if "hostPath" not in allowed:
        problems += [
            f"mounts the node's {volume['hostPath'].get('path')} (hostPath)"
            for volume in pod.get("volumes") or []
            if "hostPath" in volume
        ]
    pod_context = pod.get("securityContext") or {}
    for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
        name = container.get("name")
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            problems.append(f"container {name} is privileged")
        added = [c for c in (context.get("capabilities") or {}).get("add") or [] if c != "NET_BIND_SERVICE"]
        if added:
            problems.append(f"container {name} adds capabilities {added}")
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        if not (non_root is True or (isinstance(user, int) and user > 0)):
            problems.append(f"container {name} may run as root")
        if not ((container.get("resources") or {}).get("limits") or {}).get("memory"):
            problems.append(f"container {name} has no memory limit")
    return problems


def _rendered_pods(release: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, name, pod spec) of every workload a Helm release renders, as Helm would install it."""
    import helm_python as helm

    with helm.Chart.load(str(_chart_path(str(release["chart"])))) as chart:
        rendered = chart.render(
            dict(release.get("values") or {}),
            name=release.get("name"),
            namespace=release.get("namespace"),
            is_install=True,
        )
    pods = []
    for path, text in rendered.items():
        if not path.endswith((".yaml", ".yml")) or "/tests/" in path:
            continue
        for doc in yaml.load_all(text, Loader=_YamlLoader):
            if isinstance(doc, dict) and doc.get("kind") in POD_TEMPLATE_KINDS:
                pods.append((doc["kind"], doc["metadata"]["name"], doc["spec"]["template"]["spec"]))
            elif isinstance(doc, dict) and doc.get("kind") == "CronJob":
                pods.append(
                    ("CronJob", doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]["template"]["spec"])
                )
    return pods


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.1 reads a bare `=` as the "value" tag; Kubernetes reads a string."""


_YamlLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def _pod_security(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == "kubernetes:helm.sh/v3:Release":
        release = str(args.props.get("name", args.name))
        for kind, name, pod in _rendered_pods(args.props):
            allowed, _ = POD_SECURITY_EXEMPTIONS.get((release, kind, name), (frozenset(), ""))
            for problem in pod_security_problems(pod, allowed):
                report(f"release {release}: {kind} {name} {problem}")
        return
    spec = args.props.get("spec") or {}
    pod = spec.get("template", {}).get("spec") if args.resource_type != "kubernetes:core/v1:Pod" else spec
    if args.resource_type == "kubernetes:batch/v1:CronJob":
        pod = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec")
    for problem in pod_security_problems(pod or {}):
        report(f"{args.name} {problem}")


def _namespaces_have_network_policies(args: StackValidationArgs, report: Report) -> None:
    denied = {
        (resource.props.get("metadata") or {}).get("namespace")
        for resource in args.resources
        if resource.resource_type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
        and (resource.props.get("spec") or {}).get("podSelector") == {}
        and set((resource.props.get("spec") or {}).get("policyTypes") or []) == {"Ingress", "Egress"}
    }
    for resource in args.resources:
        if resource.resource_type == "kubernetes:core/v1:Namespace":
            namespace = (resource.props.get("metadata") or {}).get("name")
            if namespace not in denied:
                report(f"namespace {namespace} has no default-deny NetworkPolicy", resource.urn)


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    _stack_policy(
        "s3-public-access-blocked",
        "Every S3 bucket blocks public ACLs and policies.",
        "Add an aws.s3.BucketPublicAccessBlock for the bucket with all four settings true (ArtifactStore does).",
        _each_bucket(_public_access_blocked),
    ),
    _stack_policy(
        "s3-encrypted",
        "Every S3 bucket encrypts objects by default with a KMS key.",
        "Add an aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm aws:kms and a key.",
        _each_bucket(_encrypted),
    ),
    _stack_policy(
        "s3-tls-only",
        "Every S3 bucket denies requests made without TLS.",
        "Attach a bucket policy with a Deny on aws:SecureTransport false (components.artifact_store.tls_only_policy).",
        _each_bucket(_tls_only),
    ),
    _stack_policy(
        "s3-access-logged",
        "Every S3 bucket writes server access logs (AWSGuard s3BucketLoggingEnabled); the bucket that receives "
        "them is the one exempt, and the one that may use S3-managed keys, since S3 delivers logs only there.",
        "Add an aws.s3.BucketLogging with target_bucket the access-log bucket (ArtifactStore does).",
        _each_bucket(_access_logged),
    ),
    _stack_policy(
        "s3-versioned",
        "Every S3 bucket keeps object versions, so an overwrite or delete can be undone.",
        "Add an aws.s3.BucketVersioning with status Enabled and a lifecycle rule for noncurrent versions.",
        _each_bucket(_versioned),
    ),
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
        "eks-secrets-encryption",
        "EKS encrypts Kubernetes secrets with a KMS key (envelope encryption).",
        "Pass encryption_config_key_arn to eks.Cluster (components.cluster does).",
        list(EKS_CLUSTER_TYPES),
        _eks_secrets_encrypted,
    ),
    _resource_policy(
        "eks-control-plane-logs",
        "EKS sends its api, audit and authenticator logs to CloudWatch.",
        "Set enabled_cluster_log_types to include api, audit and authenticator.",
        list(EKS_CLUSTER_TYPES),
        _eks_control_plane_logs,
    ),
    _resource_policy(
        "eks-endpoint-restricted",
        "The EKS API has a private endpoint and no public endpoint open to the whole internet (ranges that "
        "together admit more public addresses than a /8 count as the internet).",
        "Set clusterPublicAccessCidrs to your VPN or office ranges, or clusterEndpointPublicAccess to false.",
        list(EKS_CLUSTER_TYPES),
        _eks_endpoint_restricted,
    ),
    _resource_policy(
        "iam-least-privilege",
        "IAM identity policies (role, user, group and managed policies, inline policies of roles) name "
        "their actions (no wildcards) and grant no write action, and no read of data or secrets, on every resource.",
        "List the exact actions and scope Resource to the ARNs the role needs.",
        [*IAM_POLICY_TYPES, "aws:iam/role:Role"],
        _iam_least_privilege,
    ),
    _resource_policy(
        "iam-no-admin-policies",
        "No role or user gets AdministratorAccess, PowerUserAccess or IAMFullAccess.",
        "Attach a policy scoped to what the role does instead.",
        [*POLICY_ATTACHMENT_TYPES, "aws:iam/role:Role"],
        _iam_no_admin_policies,
    ),
    _resource_policy(
        "iam-trust-scoped",
        "No role can be assumed by anyone, and a web identity (OIDC) trust names the subject it admits.",
        "Name the principal; for IRSA use components.iam.ServiceAccountRoles, which conditions on :sub and :aud.",
        ["aws:iam/role:Role"],
        _iam_trust_scoped,
    ),
    _resource_policy(
        "resource-policies-not-public",
        "No resource policy (S3 bucket, KMS key, ECR repository, SQS queue, SNS topic) lets anyone in "
        "without a condition.",
        "Name the principals (accounts, roles or services) the resource serves, or add a condition.",
        list(RESOURCE_POLICY_TYPES),
        _resource_policies_not_public,
    ),
    _resource_policy(
        "kms-key-rotation",
        "Symmetric KMS keys rotate their key material yearly (AWSGuard cmkBackingKeyRotationEnabled).",
        "Set enable_key_rotation = True (components.encryption.rotating_key does).",
        ["aws:kms/key:Key"],
        _kms_rotation,
    ),
    _resource_policy(
        "network-no-world-ingress",
        "No security group admits the whole internet (checked on groups, group rules and VPC ingress rules).",
        "Admit the VPC's range, a load balancer's security group, or your VPN or office ranges.",
        list(SECURITY_GROUP_TYPES),
        _no_world_ingress,
    ),
    _resource_policy(
        "eks-network-policy-enforced",
        "The VPC CNI enforces NetworkPolicies (CIS EKS 5.4.4: network policies in effect).",
        'Configure the vpc-cni add-on with {"enableNetworkPolicy": "true"} (components/addons/vpc_cni.py).',
        ["aws:eks/addon:Addon"],
        _vpc_cni_enforces_policies,
    ),
    _resource_policy(
        "s3-general-purpose-buckets-only",
        "Buckets are general-purpose buckets, which the S3 rules can hold to versioning, TLS-only and KMS.",
        "Use aws.s3.Bucket (components.artifact_store) instead of a directory bucket.",
        [DIRECTORY_BUCKET],
        _no_directory_buckets,
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
    _resource_policy(
        "k8s-pod-security",
        "No pod shares the node's network, PID or IPC namespace, mounts a node path, runs privileged or as "
        "root, adds capabilities, or runs without a memory limit; checked on Kubernetes workloads and on what "
        "every Helm release renders (CIS EKS 4.2.x, 4.1.x limits). Named exemption: node-exporter's host "
        "access (it reports the node itself).",
        "Set runAsNonRoot, resources.limits.memory and no host access in the values; an exemption needs a "
        "name and a reason in POD_SECURITY_EXEMPTIONS.",
        [
            *WORKLOAD_TYPES,
            "kubernetes:core/v1:Pod",
            "kubernetes:batch/v1:Job",
            "kubernetes:batch/v1:CronJob",
            "kubernetes:helm.sh/v3:Release",
        ],
        _pod_security,
    ),
    _stack_policy(
        "k8s-namespaces-deny-by-default",
        "Every namespace the platform creates has a default-deny NetworkPolicy (CIS EKS 5.4.4).",
        "Create the namespace's policies with components.network_policies.apply.",
        _namespaces_have_network_policies,
    ),
    _resource_policy(
        "k8s-own-workloads-nonroot-with-limits",
        "Releases of this repository's charts run as non-root with CPU and memory limits (stricter than "
        "k8s-pod-security, which asks every pod for a memory limit).",
        "Keep runAsNonRoot in the pod and container security contexts and set resources.limits in the values.",
        ["kubernetes:helm.sh/v3:Release"],
        _our_chart_runs_nonroot_with_limits,
    ),
]

"""IAM and resource policies: least privilege, scoped trust, nothing public, keys rotated."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from .common import (
    Report,
    _as_list,
    _judge_documents,
    _resource_policy,
    _statements,
)

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
# Write actions that take no resource ARN (their Resource must be "*"), and the condition key that
# scopes them instead: with that key in the statement's condition they are not "writes on *".
SCOPED_BY_CONDITION = {"cloudwatch:PutMetricData": "cloudwatch:namespace"}
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
ADMIN_POLICY_NAMES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
# An action is read-only when its verb is one of these (AWS's "Read" and "List" access levels).
READ_VERBS = ("Get", "List", "Describe", "Search", "Select", "Lookup", "Query", "Filter", "BatchGet", "Scan", "View")
# Read-level actions whose verb does not say so (CloudWatch Logs Insights queries).
READ_ACTIONS = frozenset({"logs:StartQuery", "logs:StopQuery"})


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
            writes = [a for a in actions if "*" not in a and _is_write(a) and not _scoped(a, statement)]
            if writes:
                problems.append(f"allows write actions {writes} on Resource '*'")
            sensitive = [a for a in actions if a in SENSITIVE_READS]
            if sensitive:
                problems.append(f"allows reading data or secrets {sensitive} on Resource '*'")
    return problems


def _scoped(action: str, statement: dict[str, Any]) -> bool:
    """Whether a resourceless write action is scoped by its condition key instead."""
    key = SCOPED_BY_CONDITION.get(action)
    conditions = statement.get("Condition") or {}
    return key is not None and any(key in (clauses or {}) for clauses in conditions.values())


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


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
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
]

"""S3: every general-purpose bucket private, encrypted, TLS-only, versioned and access-logged."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .common import (
    Report,
    _resource_policy,
    _stack_policy,
    _statements,
)

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
DIRECTORY_BUCKET = "aws:s3/directoryBucket:DirectoryBucket"
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
BUCKET_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")


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


def _no_directory_buckets(args: ResourceValidationArgs, report: Report) -> None:
    report(
        f"directory bucket {args.name}: S3 Express buckets support neither versioning nor the platform's "
        "bucket policies"
    )


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
        "s3-general-purpose-buckets-only",
        "Buckets are general-purpose buckets, which the S3 rules can hold to versioning, TLS-only and KMS.",
        "Use aws.s3.Bucket (components.artifact_store) instead of a directory bucket.",
        [DIRECTORY_BUCKET],
        _no_directory_buckets,
    ),
]

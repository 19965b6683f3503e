"""ArtifactStore: the S3 buckets for datasets, models, logs and captured inference data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.encryption import rotating_key
from components.iam import policy_document
from model_service.artifact_files import ARCHIVE_FILE

# Where S3 writes the other buckets' server access logs. S3 delivers access logs only to a bucket
# encrypted with S3-managed keys (SSE-S3), so this one bucket is not KMS-encrypted.
ACCESS_LOGS = "access-logs"
# Purpose of each bucket -> what it holds (also its description in tags).
BUCKETS: Mapping[str, str] = {
    "datasets": "training and evaluation data sets",
    "models": "versioned model artifacts (model.tar.gz)",
    "logs": "Loki chunks and rules",
    "capture": "SageMaker data capture of requests and responses",
    ACCESS_LOGS: "S3 server access logs of the other buckets",
}


@dataclass(frozen=True)
class StoredBucket:
    """One bucket of the store and the key that encrypts it: what a reader or writer needs."""

    name: pulumi.Input[str]
    arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class ModelArtifact:
    """One published model: s3://<bucket>/<prefix>/<version>/model.tar.gz, KMS-encrypted."""

    bucket: StoredBucket
    prefix: str
    version: str

    def archive_uri(self) -> pulumi.Output[str]:
        return pulumi.Output.concat("s3://", self.bucket.name, "/", self.prefix, "/", self.version, "/" + ARCHIVE_FILE)

    def read_statements(self, bucket_arn: str, kms_key_arn: str) -> list[dict[str, object]]:
        """IAM statements that read the model prefix and nothing else (resolved ARNs in)."""
        return [
            {
                "Sid": "ReadModelArtifact",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/{self.prefix}/*"],
            },
            {"Sid": "DecryptModelArtifact", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [kms_key_arn]},
        ]


def _deny_insecure_transport(bucket_arn: str) -> dict[str, object]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def tls_only_policy(bucket_arn: str) -> str:
    """Bucket policy that denies every request not made over TLS."""
    return policy_document(_deny_insecure_transport(bucket_arn))


def access_log_policy(bucket_arn: str, source_arns: Sequence[str]) -> str:
    """TLS only, and S3's logging service may write the access logs of `source_arns`, nothing else."""
    return policy_document(
        _deny_insecure_transport(bucket_arn),
        {
            "Sid": "S3ServerAccessLogs",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/*",
            "Condition": {"ArnLike": {"aws:SourceArn": list(source_arns)}},
        },
    )


@dataclass(frozen=True)
class ArtifactStoreSpec:
    """What a stack decides about its buckets (read from config by stacks.config.storage)."""

    force_destroy: bool
    noncurrent_version_expiration_days: int
    # Buckets whose current objects expire, by purpose (the others keep them).
    expiration_days: Mapping[str, int]


@dataclass(frozen=True)
class ArtifactStoreArgs:
    spec: ArtifactStoreSpec
    name_prefix: str


class ArtifactStore(pulumi.ComponentResource):
    """Private, KMS-encrypted, versioned, TLS-only buckets with lifecycle rules."""

    bucket_names: dict[str, pulumi.Output[str]]
    bucket_arns: dict[str, pulumi.Output[str]]
    kms_key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:storage:ArtifactStore", name, None, opts)
        unknown = set(args.spec.expiration_days) - set(BUCKETS)
        if unknown:
            raise ValueError(f"expiration_days names unknown buckets {sorted(unknown)}; known: {sorted(BUCKETS)}")
        key = rotating_key(
            f"{name}-key",
            description=f"Encryption of the {args.name_prefix} artifact buckets",
            alias=f"{args.name_prefix}-artifacts",
            opts=pulumi.ResourceOptions(parent=self),
            alias_under_key=True,
        )
        self.kms_key_arn = key.arn
        self.bucket_names = {}
        self.bucket_arns = {}
        access_logs = self._bucket(name, ACCESS_LOGS, BUCKETS[ACCESS_LOGS], None, args)
        buckets = {
            purpose: self._bucket(name, purpose, contents, key, args)
            for purpose, contents in BUCKETS.items()
            if purpose != ACCESS_LOGS
        }
        for purpose, bucket in buckets.items():
            aws.s3.BucketLogging(
                f"{name}-{purpose}",
                bucket=bucket.id,
                target_bucket=access_logs.id,
                target_prefix=f"{purpose}/",
                opts=pulumi.ResourceOptions(parent=bucket),
            )
        # Only S3's logging service may write there, and only for these buckets.
        aws.s3.BucketPolicy(
            f"{name}-{ACCESS_LOGS}",
            bucket=access_logs.id,
            policy=pulumi.Output.all(access_logs.arn, *[bucket.arn for bucket in buckets.values()]).apply(
                lambda arns: access_log_policy(arns[0], arns[1:])
            ),
            opts=pulumi.ResourceOptions(parent=access_logs),
        )
        for purpose, bucket in {ACCESS_LOGS: access_logs, **buckets}.items():
            self.bucket_names[purpose] = bucket.bucket
            self.bucket_arns[purpose] = bucket.arn
        self.register_outputs({"bucketNames": self.bucket_names, "kmsKeyArn": self.kms_key_arn})

    def bucket(self, purpose: str) -> StoredBucket:
        """The bucket for `purpose` (datasets, models, logs, capture) with its key."""
        return StoredBucket(self.bucket_names[purpose], self.bucket_arns[purpose], self.kms_key_arn)

    def model_artifact(self, prefix: str, version: str) -> ModelArtifact:
        """A published model in the models bucket."""
        return ModelArtifact(self.bucket("models"), prefix, version)

    def _bucket(
        self, name: str, purpose: str, contents: str, key: aws.kms.Key | None, args: ArtifactStoreArgs
    ) -> aws.s3.Bucket:
        """A private, versioned bucket with lifecycle rules; KMS-encrypted with `key`, or with
        S3-managed keys where there is none (the access-log bucket)."""
        bucket = aws.s3.Bucket(
            f"{name}-{purpose}",
            bucket_prefix=f"{args.name_prefix}-{purpose}-",
            force_destroy=args.spec.force_destroy,
            tags={"purpose": purpose, "contents": contents},
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=bucket)
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-{purpose}",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-{purpose}",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-{purpose}",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms" if key is not None else "AES256",
                        kms_master_key_id=key.arn if key is not None else None,
                    ),
                    bucket_key_enabled=key is not None,
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-{purpose}",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=args.spec.noncurrent_version_expiration_days,
                ),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7,
                ),
            )
        ]
        if purpose in args.spec.expiration_days:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-objects",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=args.spec.expiration_days[purpose]
                    ),
                )
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-{purpose}",
            bucket=bucket.id,
            rules=rules,
            opts=pulumi.ResourceOptions(parent=bucket, depends_on=[versioning]),
        )
        if key is not None:
            aws.s3.BucketPolicy(
                f"{name}-{purpose}",
                bucket=bucket.id,
                policy=bucket.arn.apply(tls_only_policy),
                # S3 rejects a bucket policy while the public access block is being applied.
                opts=pulumi.ResourceOptions(parent=bucket, depends_on=[public_access]),
            )
        return bucket

"""ArtifactStore and Registry: every bucket private, encrypted, versioned, TLS-only, with lifecycle;
every repository immutable, scanned, encrypted, with a lifecycle policy."""

from __future__ import annotations

import json

import pytest

from components.artifact_store import ACCESS_LOGS, BUCKETS
from tests.support.pulumi_harness import StackRun, run_program


@pytest.fixture(scope="module", params=["dev", "prod"])
def run(request: pytest.FixtureRequest) -> StackRun:
    return run_program(request.param)


def _by_bucket(run: StackRun, type_token: str) -> dict[str, dict]:
    return {r.inputs["bucket"]: r.inputs for r in run.of_type(type_token)}


def test_every_bucket_is_private_encrypted_versioned_and_tls_only(run: StackRun) -> None:
    buckets = run.of_type("aws:s3/bucket:Bucket")
    assert {b.name.removeprefix("artifacts-") for b in buckets} == set(BUCKETS)
    bucket_ids = {f"{b.name}-id" for b in buckets}
    blocks = _by_bucket(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    encryption = _by_bucket(
        run, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    versioning = _by_bucket(run, "aws:s3/bucketVersioning:BucketVersioning")
    policies = _by_bucket(run, "aws:s3/bucketPolicy:BucketPolicy")
    ownership = _by_bucket(run, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    for bucket_id in bucket_ids:
        assert all(
            blocks[bucket_id][flag] is True
            for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        default = encryption[bucket_id]["rules"][0]["applyServerSideEncryptionByDefault"]
        if bucket_id == f"artifacts-{ACCESS_LOGS}-id":
            # S3 delivers server access logs only to a bucket with S3-managed keys.
            assert default == {"sseAlgorithm": "AES256"}
        else:
            assert default["sseAlgorithm"] == "aws:kms"
            assert default["kmsMasterKeyId"] == run.outputs["artifactsKmsKeyArn"]
        assert versioning[bucket_id]["versioningConfiguration"]["status"] == "Enabled"
        assert ownership[bucket_id]["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        statement = json.loads(policies[bucket_id]["policy"])["Statement"][0]
        assert statement["Effect"] == "Deny"
        assert statement["Action"] == "s3:*"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert any(resource.endswith("/*") for resource in statement["Resource"])


def test_lifecycle_expires_noncurrent_versions_everywhere_and_logs_and_capture_by_config() -> None:
    run = run_program("dev")
    rules = {
        name.removeprefix("artifacts-"): r.inputs["rules"]
        for r in run.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        for name in [r.name]
    }
    assert set(rules) == set(BUCKETS)
    for purpose, bucket_rules in rules.items():
        by_id = {rule["id"]: rule for rule in bucket_rules}
        assert by_id["expire-noncurrent-versions"]["noncurrentVersionExpiration"]["noncurrentDays"] == 7
        expiry = by_id.get("expire-objects", {}).get("expiration", {}).get("days")
        assert expiry == {"logs": 7, "capture": 14, ACCESS_LOGS: 7}.get(purpose)


def test_every_bucket_logs_its_access_to_the_access_log_bucket_which_only_s3_logging_may_write() -> None:
    run = run_program("prod")
    logging = {r.inputs["bucket"]: r.inputs for r in run.of_type("aws:s3/bucketLogging:BucketLogging")}
    assert set(logging) == {f"artifacts-{purpose}-id" for purpose in BUCKETS if purpose != ACCESS_LOGS}
    assert {inputs["targetBucket"] for inputs in logging.values()} == {f"artifacts-{ACCESS_LOGS}-id"}
    policy = json.loads(_by_bucket(run, "aws:s3/bucketPolicy:BucketPolicy")[f"artifacts-{ACCESS_LOGS}-id"]["policy"])
    writer = next(s for s in policy["Statement"] if s["Effect"] == "Allow")
    assert writer["Principal"] == {"Service": "logging.s3.amazonaws.com"} and writer["Action"] == "s3:PutObject"
    assert len(writer["Condition"]["ArnLike"]["aws:SourceArn"]) == len(BUCKETS) - 1


@pytest.mark.parametrize(("stack", "force_destroy"), [("dev", True), ("prod", False)])
def test_force_destroy_only_where_the_stack_allows_it(stack: str, force_destroy: bool) -> None:
    run = run_program(stack)
    assert {b.inputs["forceDestroy"] for b in run.of_type("aws:s3/bucket:Bucket")} == {force_destroy}
    assert {r.inputs["forceDelete"] for r in run.of_type("aws:ecr/repository:Repository")} == {force_destroy}


def test_ecr_repositories_are_immutable_scanned_encrypted_and_pruned() -> None:
    run = run_program("prod", overrides={"ecrRepositories": ["model-service", "batch-jobs"]})
    repositories = {r.inputs["name"]: r.inputs for r in run.of_type("aws:ecr/repository:Repository")}
    assert set(repositories) == {"mlops-prod/model-service", "mlops-prod/batch-jobs"}
    for repository in repositories.values():
        assert repository["imageTagMutability"] == "IMMUTABLE"
        assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repository["encryptionConfigurations"] == [{"encryptionType": "KMS"}]
    policies = run.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert len(policies) == 2
    for policy in policies:
        selection = json.loads(policy.inputs["policy"])["rules"][0]["selection"]
        assert selection == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 50}
    assert run.outputs["modelServiceRepositoryUrl"].endswith("/mlops-prod/model-service")

"""The policy pack: every stack passes it, every rule rejects what it is for, and the pack answers
the Pulumi engine's analyzer protocol for real."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from policy.rules import POLICIES
from tests.support.policy_harness import Violation, check_one, evaluate, policy_resources, violations_of
from tests.support.pulumi_harness import REPO, StackRun, run_program

CHART = str(REPO / "charts" / "model-service")
TAGS = {"defaultTags": {"tags": {"project": "p", "stack": "s", "owner": "o", "cost-center": "c"}}}


@pytest.mark.parametrize(
    ("stack", "overrides"),
    [
        ("local", {}),
        ("dev", {"modelVersion": "v1"}),
        # The retrain relay too (its Deployment is the program's own).
        ("prod", {"modelVersion": "v1", "retrainRepository": "acme/mlops-platform"}),
        (
            "prod",
            {
                "modelVersion": "v1",
                "apiAuthorization": "jwt",
                "apiJwtIssuer": "https://auth.example.com/",
                "apiJwtAudiences": ["inference"],
            },
        ),
    ],
    ids=["local", "dev", "prod", "prod-jwt"],
)
def test_every_stack_passes_the_pack(stack: str, overrides: dict) -> None:
    secrets = {"retrainGithubToken": "t0ken"} if "retrainRepository" in overrides else {}
    run = run_program(stack, overrides=overrides, secrets=secrets)
    assert violations_of(run) == []
    if stack != "local":
        assert len(run.of_type("aws:s3/bucket:Bucket")) == 5  # the stack rules had buckets to judge


# (policy, resource type, props, what the message says)
RESOURCE_CASES: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "ecr-scan-on-push",
        "aws:ecr/repository:Repository",
        {"imageScanningConfiguration": {"scanOnPush": False}, "imageTagMutability": "IMMUTABLE"},
        "does not scan images on push",
    ),
    (
        "ecr-immutable-tags",
        "aws:ecr/repository:Repository",
        {"imageScanningConfiguration": {"scanOnPush": True}, "imageTagMutability": "MUTABLE"},
        "has mutable tags (MUTABLE)",
    ),
    (
        "eks-secrets-encryption",
        "eks:index:Cluster",
        {
            "enabledClusterLogTypes": ["api", "audit", "authenticator"],
            "endpointPrivateAccess": True,
            "endpointPublicAccess": False,
        },
        "does not encrypt Kubernetes secrets",
    ),
    (
        "eks-control-plane-logs",
        "eks:index:Cluster",
        {
            "encryptionConfigKeyArn": "arn:key",
            "enabledClusterLogTypes": ["api"],
            "endpointPrivateAccess": True,
            "endpointPublicAccess": False,
        },
        "does not log audit, authenticator",
    ),
    (
        "eks-endpoint-restricted",
        "eks:index:Cluster",
        {
            "encryptionConfigKeyArn": "arn:key",
            "enabledClusterLogTypes": ["api", "audit", "authenticator"],
            "endpointPrivateAccess": True,
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
        "exposes its API to the whole internet (0.0.0.0/0)",
    ),
    (
        "iam-least-privilege",
        "aws:iam/rolePolicy:RolePolicy",
        {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]})},
        "allows wildcard actions ['s3:*']",
    ),
    (
        "iam-least-privilege",
        "aws:iam/policy:Policy",
        {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "*"}]})},
        "allows write actions ['s3:PutObject'] on Resource '*'",
    ),
    (
        "iam-least-privilege",
        "aws:iam/role:Role",
        {
            "inlinePolicies": [
                {"policy": json.dumps({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}})}
            ]
        },
        "allows wildcard actions ['*']",
    ),
    (
        "iam-no-admin-policies",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        "attaches the administrator policy",
    ),
    (
        "sagemaker-kms-and-data-capture",
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        {"productionVariants": [{"instanceType": "ml.m5.large", "initialInstanceCount": 2}]},
        "does not encrypt its instances' volumes with KMS",
    ),
    (
        "sagemaker-kms-and-data-capture",
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        {"productionVariants": [{"instanceType": "ml.m5.large"}], "kmsKeyArn": "arn:key"},
        "does not capture inference data",
    ),
    (
        "sagemaker-kms-and-data-capture",
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        {
            "productionVariants": [{"instanceType": "ml.m5.large"}],
            "kmsKeyArn": "arn:key",
            "dataCaptureConfig": {"enableCapture": True, "initialSamplingPercentage": 10},
        },
        "captures data without KMS encryption",
    ),
    (
        "lambda-no-public-invoke",
        "aws:lambda/permission:Permission",
        {"action": "lambda:InvokeFunction", "principal": "*", "function": "f"},
        "lets anyone invoke the function",
    ),
    (
        "lambda-no-public-invoke",
        "aws:lambda/permission:Permission",
        {"action": "lambda:InvokeFunction", "principal": "apigateway.amazonaws.com", "function": "f"},
        "for any account (no source_arn)",
    ),
    (
        "lambda-no-public-invoke",
        "aws:lambda/functionUrl:FunctionUrl",
        {"functionName": "f", "authorizationType": "NONE"},
        "authorization_type NONE",
    ),
    (
        "apigateway-throttled-and-logged",
        "aws:apigatewayv2/stage:Stage",
        {"name": "$default", "accessLogSettings": {"destinationArn": "arn:logs", "format": "{}"}},
        "does not throttle",
    ),
    (
        "apigateway-throttled-and-logged",
        "aws:apigatewayv2/stage:Stage",
        {"name": "$default", "defaultRouteSettings": {"throttlingRateLimit": 10, "throttlingBurstLimit": 20}},
        "writes no access logs",
    ),
    (
        "apigateway-no-anonymous-routes",
        "aws:apigatewayv2/route:Route",
        {"routeKey": "POST /predict", "authorizationType": "NONE"},
        "POST /predict admits anonymous callers",
    ),
    (
        "cloudwatch-log-retention",
        "aws:cloudwatch/logGroup:LogGroup",
        {"name": "/aws/lambda/f"},
        "/aws/lambda/f keeps logs forever",
    ),
    (
        "k8s-own-workloads-nonroot-with-limits",
        "kubernetes:helm.sh/v3:Release",
        {
            "chart": CHART,
            "name": "model-service",
            "namespace": "models",
            "values": {"resources": {"limits": {"cpu": None}}},
        },
        "runs without CPU and memory limits",
    ),
    (
        "k8s-pod-security",
        "kubernetes:apps/v1:Deployment",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "1Gi"}}}]}}}},
        "container app may run as root",
    ),
]
NON_ROOT = {"runAsNonRoot": True}
LIMITED = {"limits": {"memory": "256Mi"}}
K8S_BYPASS_CASES: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "k8s-pod-security",
        "kubernetes:apps/v1:DaemonSet",
        {
            "spec": {
                "template": {
                    "spec": {
                        "hostNetwork": True,
                        "securityContext": NON_ROOT,
                        "containers": [{"name": "a", "resources": LIMITED}],
                    }
                }
            }
        },
        "uses hostNetwork",
    ),
    (
        "k8s-pod-security",
        "kubernetes:apps/v1:Deployment",
        {
            "spec": {
                "template": {
                    "spec": {
                        "securityContext": NON_ROOT,
                        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
                        "containers": [{"name": "a", "resources": LIMITED}],
                    }
                }
            }
        },
        "mounts the node's / (hostPath)",
    ),
    (
        "k8s-pod-security",
        "kubernetes:apps/v1:StatefulSet",
        {
            "spec": {
                "template": {
                    "spec": {
                        "securityContext": NON_ROOT,
                        "containers": [{"name": "a", "securityContext": {"privileged": True}, "resources": LIMITED}],
                    }
                }
            }
        },
        "container a is privileged",
    ),
    (
        "k8s-pod-security",
        "kubernetes:batch/v1:Job",
        {"spec": {"template": {"spec": {"securityContext": NON_ROOT, "containers": [{"name": "a"}]}}}},
        "container a has no memory limit",
    ),
    (
        "k8s-pod-security",
        "kubernetes:core/v1:Pod",
        {
            "spec": {
                "securityContext": NON_ROOT,
                "containers": [
                    {"name": "a", "resources": LIMITED, "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}
                ],
            }
        },
        "adds capabilities ['SYS_ADMIN']",
    ),
    (
        "k8s-pod-security",
        "kubernetes:helm.sh/v3:Release",
        {
            "chart": "charts/vendor/metrics-server-3.13.1.tgz",
            "name": "metrics-server",
            "namespace": "kube-system",
            "values": {"securityContext": {"runAsNonRoot": False, "runAsUser": 0}, "resources": LIMITED},
        },
        "release metrics-server: Deployment metrics-server container metrics-server may run as root",
    ),
]
RESOURCE_CASES += K8S_BYPASS_CASES


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


GOOD_EKS = {
    "encryptionConfig": [{"resources": ["secrets"], "provider": {"keyArn": "arn:key"}}],
    "enabledClusterLogTypes": ["api", "audit", "authenticator"],
}
OIDC = {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X"}
# The ways around the pack that a review found, each now a rejection.
BYPASS_CASES: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "eks-endpoint-restricted",
        "aws:eks/cluster:Cluster",
        {**GOOD_EKS, "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": True}},
        "no publicAccessCidrs",
    ),
    (
        "eks-endpoint-restricted",
        "eks:index:Cluster",
        {
            "encryptionConfigKeyArn": "arn:key",
            "enabledClusterLogTypes": ["api", "audit", "authenticator"],
            "endpointPrivateAccess": True,
            "publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"],
        },
        "whole internet (0.0.0.0/1, 128.0.0.0/1)",
    ),
    (
        "eks-secrets-encryption",
        "aws:eks/cluster:Cluster",
        {
            "enabledClusterLogTypes": ["api", "audit", "authenticator"],
            "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False},
        },
        "does not encrypt Kubernetes secrets",
    ),
    (
        "eks-control-plane-logs",
        "aws:eks/cluster:Cluster",
        {
            **GOOD_EKS,
            "enabledClusterLogTypes": [],
            "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False},
        },
        "does not log api, audit, authenticator",
    ),
    (
        "iam-trust-scoped",
        "aws:iam/role:Role",
        {"assumeRolePolicy": _doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})},
        "lets anyone assume it",
    ),
    (
        "iam-trust-scoped",
        "aws:iam/role:Role",
        {
            "assumeRolePolicy": _doc(
                {
                    "Effect": "Allow",
                    "Principal": OIDC,
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {"oidc.eks.us-east-1.amazonaws.com/id/X:aud": "sts.amazonaws.com"}},
                }
            )
        },
        "without a :sub condition",
    ),
    (
        "iam-least-privilege",
        "aws:iam/rolePolicy:RolePolicy",
        # PutMetricData takes no resource: only a namespace condition scopes it.
        {"policy": _doc({"Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*"})},
        "allows write actions ['cloudwatch:PutMetricData'] on Resource '*'",
    ),
    (
        "iam-least-privilege",
        "aws:iam/groupPolicy:GroupPolicy",
        {"policy": _doc({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})},
        "allows wildcard actions ['ec2:*']",
    ),
    (
        "iam-least-privilege",
        "aws:iam/userPolicy:UserPolicy",
        {"policy": _doc({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"})},
        "reading data or secrets ['secretsmanager:GetSecretValue']",
    ),
    (
        "iam-least-privilege",
        "aws:iam/rolePolicy:RolePolicy",
        {"policy": _doc({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"})},
        "reading data or secrets ['s3:GetObject']",
    ),
    (
        "iam-no-admin-policies",
        "aws:iam/policyAttachment:PolicyAttachment",
        {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess", "roles": ["r"]},
        "attaches the administrator policy",
    ),
    (
        "iam-no-admin-policies",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess", "group": "g"},
        "attaches the administrator policy",
    ),
    (
        "resource-policies-not-public",
        "aws:kms/key:Key",
        {
            "enableKeyRotation": True,
            "policy": _doc({"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}),
        },
        "to anyone",
    ),
    (
        "resource-policies-not-public",
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        {"policy": _doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "ecr:BatchGetImage"})},
        "to anyone",
    ),
    (
        "resource-policies-not-public",
        "aws:s3/bucketPolicy:BucketPolicy",
        {
            "policy": _doc(
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
            )
        },
        "to anyone",
    ),
    ("kms-key-rotation", "aws:kms/key:Key", {"enableKeyRotation": False}, "is not rotated"),
    (
        "network-no-world-ingress",
        "aws:ec2/securityGroup:SecurityGroup",
        {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]},
        "admits the whole internet",
    ),
    (
        "network-no-world-ingress",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        {"type": "ingress", "cidrBlocks": ["0.0.0.0/1", "128.0.0.0/1"], "fromPort": 443, "toPort": 443},
        "admits the whole internet",
    ),
    (
        "network-no-world-ingress",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"cidrIpv6": "::/0", "ipProtocol": "tcp", "fromPort": 443, "toPort": 443},
        "admits the whole internet",
    ),
    (
        "apigateway-no-anonymous-routes",
        "aws:apigateway/method:Method",
        {"authorization": "NONE", "httpMethod": "POST"},
        "admits anonymous callers (authorization NONE)",
    ),
    (
        "eks-network-policy-enforced",
        "aws:eks/addon:Addon",
        {"addonName": "vpc-cni", "clusterName": "c"},
        "does not enforce NetworkPolicies",
    ),
    (
        "s3-general-purpose-buckets-only",
        "aws:s3/directoryBucket:DirectoryBucket",
        {"bucket": "b--use1-az4--x-s3"},
        "directory bucket",
    ),
]
RESOURCE_CASES += BYPASS_CASES


def test_a_namespace_without_a_default_deny_policy_is_rejected(dev_run: StackRun) -> None:
    resources = [
        r
        for r in policy_resources(dev_run)
        if not (
            r.resource_type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
            and r.name.startswith("model-service-policy")
        )
    ]
    _only(evaluate(resources), "k8s-namespaces-deny-by-default", "namespace models has no default-deny NetworkPolicy")


def test_the_vendored_node_exporter_is_exempt_by_name_only() -> None:
    from policy.rules import POD_SECURITY_EXEMPTIONS

    assert len(POD_SECURITY_EXEMPTIONS) == 1
    ((allowed, reason),) = POD_SECURITY_EXEMPTIONS.values()
    assert allowed == {"hostNetwork", "hostPID", "hostPath"} and "node-exporter" in reason


def test_a_bucket_of_the_other_general_purpose_type_is_judged_too(dev_run: StackRun) -> None:
    """A BucketV2 with no safeguards trips all four S3 rules, like a Bucket."""
    from pulumi_policy import PolicyResource

    resources = policy_resources(dev_run)
    template = next(r for r in resources if r.resource_type == "aws:s3/bucket:Bucket")
    bare = PolicyResource(
        resource_type="aws:s3/bucketV2:BucketV2",
        props={"bucketPrefix": "bare", "tags": {}},
        urn=template.urn.replace("aws:s3/bucket:Bucket::artifacts-", "aws:s3/bucketV2:BucketV2::bare-"),
        name="bare",
        opts=template.opts,
        provider=template.provider,
        parent=template.parent,
        dependencies=[],
        property_dependencies={},
    )
    found = {v.policy for v in evaluate([*resources, bare]) if "bare" in v.message}
    assert found == {"s3-public-access-blocked", "s3-encrypted", "s3-tls-only", "s3-versioned", "s3-access-logged"}


def test_the_internet_in_pieces_is_still_the_internet() -> None:
    from policy.rules import covers_the_internet

    assert covers_the_internet(["0.0.0.0/0"]) and covers_the_internet(["0.0.0.0/1", "128.0.0.0/1"])
    assert covers_the_internet(["1.0.0.0/8", "2.0.0.0/8"])
    assert not covers_the_internet(["203.0.113.0/24", "198.51.100.0/24", "10.0.0.0/8"])


def _only(found: list[Violation], policy: str, message: str) -> None:
    assert found, f"{policy} reported nothing"
    assert {v.policy for v in found} == {policy}, found
    assert any(message in v.message for v in found), found


@pytest.mark.parametrize(("policy", "resource_type", "props", "message"), RESOURCE_CASES)
def test_a_resource_breaking_a_rule_is_rejected(policy: str, resource_type: str, props: dict, message: str) -> None:
    _only(check_one(resource_type, props, provider_props=TAGS), policy, message)


def test_an_aws_resource_without_tags_is_rejected() -> None:
    found = check_one("aws:sns/topic:Topic", {"name": "t", "kmsMasterKeyId": "k"}, provider_props={})
    _only(found, "aws-tagged", "is missing the tags project, stack, owner, cost-center")
    # Tags on the resource itself are as good as the provider's default tags.
    assert check_one("aws:sns/topic:Topic", {"tags": TAGS["defaultTags"]["tags"]}, provider_props={}) == []


def _mutated(run: StackRun, type_token: str, name: str, change: Callable[[dict[str, Any]], None] | None) -> list:
    """The run's resources, with one of them changed (`change`) or left out (None)."""
    resources = policy_resources(run)
    target = next(r for r in resources if r.resource_type == type_token and r.name == name)
    if change is None:
        return [r for r in resources if r is not target]
    change(target.props)  # type: ignore[arg-type]
    return resources


STACK_CASES: list[tuple[str, str, Callable[[dict[str, Any]], None] | None, str]] = [
    (
        "s3-public-access-blocked",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        None,
        "no BucketPublicAccessBlock",
    ),
    (
        "s3-public-access-blocked",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        lambda props: props.update(restrictPublicBuckets=False),
        "no BucketPublicAccessBlock with all four settings true",
    ),
    (
        "s3-encrypted",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        lambda props: props["rules"][0]["applyServerSideEncryptionByDefault"].update(sseAlgorithm="AES256"),
        "has no default encryption with a KMS key",
    ),
    ("s3-access-logged", "aws:s3/bucketLogging:BucketLogging", None, "writes no server access logs"),
    (
        "s3-versioned",
        "aws:s3/bucketVersioning:BucketVersioning",
        lambda props: props["versioningConfiguration"].update(status="Suspended"),
        "is not versioned",
    ),
    (
        "s3-tls-only",
        "aws:s3/bucketPolicy:BucketPolicy",
        lambda props: props.update(
            policy=json.dumps(
                {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}
            )
        ),
        "denies requests without TLS",
    ),
]


@pytest.fixture(scope="module")
def dev_run() -> StackRun:
    return run_program("dev")


@pytest.mark.parametrize(("policy", "type_token", "change", "message"), STACK_CASES)
def test_a_bucket_missing_a_safeguard_is_rejected(
    dev_run: StackRun, policy: str, type_token: str, change: Callable[[dict[str, Any]], None] | None, message: str
) -> None:
    found = evaluate(_mutated(dev_run, type_token, "artifacts-logs", change))
    _only(found, policy, message)
    assert [v.message.split(":")[0] for v in found] == ["bucket artifacts-logs"]
    assert found[0].urn.endswith("::artifacts-logs") and "s3/bucket:Bucket" in found[0].urn


def test_every_rule_has_a_rejection_test_and_says_how_to_fix_it() -> None:
    covered = {case[0] for case in RESOURCE_CASES} | {case[0] for case in STACK_CASES}
    # Tested above on their own: tags come from the provider, namespaces from the whole stack.
    covered |= {"aws-tagged", "k8s-namespaces-deny-by-default"}
    assert covered == {policy.name for policy in POLICIES}
    for policy in POLICIES:
        assert policy.description and policy.remediation_steps, policy.name


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack as the Pulumi CLI starts it: `python __main__.py` in its folder, which serves the
    analyzer protocol on a port it prints."""
    process = subprocess.Popen(
        [sys.executable, "__main__.py"], cwd=REPO / "policy", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    port = process.stdout.readline().decode().strip()
    assert port.isdigit(), process.stderr.read().decode() if process.stderr else port
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield analyzer_pb2_grpc.AnalyzerStub(channel)
    channel.close()
    process.kill()
    process.wait()


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(values, struct_pb2.Struct())


def test_the_pack_serves_the_engine_its_rules(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "mlops-platform"
    assert {p.name for p in info.policies} == {policy.name for policy in POLICIES}
    assert all(p.enforcementLevel == analyzer_pb2.MANDATORY for p in info.policies)


def test_the_engine_gets_a_mandatory_diagnostic_for_a_bad_resource(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    request = analyzer_pb2.AnalyzeRequest(
        type="aws:ecr/repository:Repository",
        properties=_struct({"imageScanningConfiguration": {"scanOnPush": True}, "imageTagMutability": "MUTABLE"}),
        urn="urn:pulumi:dev::mlops-platform::aws:ecr/repository:Repository::bad",
        name="bad",
        provider=analyzer_pb2.AnalyzerProviderResource(
            type="pulumi:providers:aws", properties=_struct(TAGS), urn="urn:provider", name="aws"
        ),
    )
    diagnostics = analyzer.Analyze(request).diagnostics
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [("ecr-immutable-tags", analyzer_pb2.MANDATORY)]
    assert "has mutable tags" in diagnostics[0].message


def test_a_resourceless_write_scoped_by_its_condition_key_passes() -> None:
    statement = {
        "Effect": "Allow",
        "Action": ["cloudwatch:PutMetricData"],
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "MLOps/ModelQuality"}},
    }
    found = check_one("aws:iam/rolePolicy:RolePolicy", {"policy": _doc(statement)}, provider_props=TAGS)
    assert [v for v in found if v.policy == "iam-least-privilege"] == []

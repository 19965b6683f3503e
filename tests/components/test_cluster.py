"""Cluster: EKS inputs, node groups per stack, core add-ons, IRSA scoping and the gp3 class."""

from __future__ import annotations

import json

import pulumi
import pytest

from components.cluster import CONTROL_PLANE_LOG_TYPES, ami_type, instance_architecture
from components.iam import irsa_trust_policy
from tests.support.pulumi_harness import StackRun, run_program


@pytest.fixture(scope="module")
def prod() -> StackRun:
    return run_program("prod")


@pytest.fixture(scope="module")
def dev() -> StackRun:
    return run_program("dev", overrides={"clusterAdminRoleArns": ["arn:aws:iam::123456789012:role/platform-admin"]})


def test_eks_cluster_is_private_encrypted_logged_and_uses_api_access_entries(prod: StackRun) -> None:
    cluster = prod.one("eks:index:Cluster").inputs
    assert cluster["name"] == "mlops-prod-eks"
    assert cluster["privateSubnetIds"] == prod.outputs["privateSubnetIds"]
    assert cluster["nodeAssociatePublicIpAddress"] is False
    assert cluster["endpointPrivateAccess"] is True
    assert cluster["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert cluster["createOidcProvider"] is True
    assert cluster["authenticationMode"] == "API"
    assert cluster["enabledClusterLogTypes"] == list(CONTROL_PLANE_LOG_TYPES)
    key = prod.one("aws:kms/key:Key", "cluster-secrets")
    assert key.inputs["enableKeyRotation"] is True
    assert cluster["encryptionConfigKeyArn"].endswith("/cluster-secrets")
    assert cluster["skipDefaultNodeGroup"] is True
    assert cluster["deletionProtection"] is True
    log_group = prod.one("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane").inputs
    assert log_group == {"name": "/aws/eks/mlops-prod-eks/cluster", "retentionInDays": 90}


def test_admin_roles_become_cluster_admin_access_entries(dev: StackRun) -> None:
    entries = dev.one("eks:index:Cluster").inputs["accessEntries"]
    assert list(entries.values()) == [
        {
            "principalArn": "arn:aws:iam::123456789012:role/platform-admin",
            "accessPolicies": {
                "cluster-admin": {
                    "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                    "accessScope": {"type": "cluster"},
                }
            },
        }
    ]


@pytest.mark.parametrize(("stack", "capacity"), [("dev", "SPOT"), ("prod", "ON_DEMAND")])
def test_workloads_run_on_spot_in_dev_and_on_demand_in_prod(stack: str, capacity: str) -> None:
    run = run_program(stack)
    groups = {g.name: g.inputs for g in run.of_type("aws:eks/nodeGroup:NodeGroup")}
    assert set(groups) == {"cluster-system", "cluster-workloads"}
    assert groups["cluster-workloads"]["capacityType"] == capacity
    assert groups["cluster-system"]["capacityType"] == "ON_DEMAND"
    for group in groups.values():
        assert group["subnetIds"] == run.outputs["privateSubnetIds"]
        scaling = group["scalingConfig"]
        assert scaling["minSize"] <= scaling["desiredSize"] <= scaling["maxSize"]


def test_prod_node_group_sizes_come_from_the_stack_file(prod: StackRun) -> None:
    workloads = prod.one("aws:eks/nodeGroup:NodeGroup", "cluster-workloads").inputs
    assert workloads["scalingConfig"] == {"minSize": 3, "maxSize": 9, "desiredSize": 3}
    assert workloads["instanceTypes"] == ["m6i.xlarge"]
    assert workloads["amiType"] == "AL2023_x86_64_STANDARD"


def test_core_addons_are_managed_and_ebs_csi_has_its_own_irsa_role(prod: StackRun) -> None:
    addons = {a.inputs["addonName"]: a.inputs for a in prod.of_type("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"}
    assert addons["aws-ebs-csi-driver"]["serviceAccountRoleArn"] == "arn:aws:iam::123456789012:role/cluster-ebs-csi"
    role = prod.one("aws:iam/role:Role", "cluster-ebs-csi")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert len(trust) == 1
    conditions = trust[0]["Condition"]["StringEquals"]
    subject = [v for k, v in conditions.items() if k.endswith(":sub")]
    assert subject == ["system:serviceaccount:kube-system:ebs-csi-controller-sa"]
    assert trust[0]["Principal"]["Federated"] == prod.outputs["oidcProviderArn"]


def test_gp3_is_the_default_encrypted_storage_class(prod: StackRun) -> None:
    storage_class = prod.one("kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert storage_class["provisioner"] == "ebs.csi.aws.com"
    assert storage_class["parameters"]["type"] == "gp3"
    assert storage_class["parameters"]["encrypted"] == "true"
    assert storage_class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"


@pulumi.runtime.test
def test_irsa_trust_is_scoped_to_exactly_one_service_account() -> pulumi.Output[None]:
    policy = irsa_trust_policy(
        "arn:aws:iam::1:oidc-provider/oidc.example/id/X", "https://oidc.example/id/X", "models", "model-service"
    )

    def check(document: str) -> None:
        statement = json.loads(document)["Statement"][0]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Condition"] == {
            "StringEquals": {
                "oidc.example/id/X:sub": "system:serviceaccount:models:model-service",
                "oidc.example/id/X:aud": "sts.amazonaws.com",
            }
        }
        assert "StringLike" not in statement["Condition"]

    return policy.apply(check)


@pytest.mark.parametrize(
    ("instance_type", "architecture"),
    [
        ("m6i.large", "x86_64"),
        ("m7g.large", "arm64"),
        ("c6gn.xlarge", "arm64"),
        ("t4g.small", "arm64"),
        ("a1.large", "arm64"),
        ("g5.xlarge", "x86_64"),
    ],
)
def test_instance_architecture(instance_type: str, architecture: str) -> None:
    assert instance_architecture(instance_type) == architecture


def test_ami_type_refuses_mixed_architectures() -> None:
    assert ami_type(["m7g.large", "c7g.large"]) == "AL2023_ARM_64_STANDARD"
    with pytest.raises(ValueError, match="mix architectures"):
        ami_type(["m7g.large", "m6i.large"])

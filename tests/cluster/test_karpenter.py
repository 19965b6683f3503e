"""Karpenter on the AWS stacks, read as the controller reads it: the node pool names a node class
that exists, the node class finds the program's private subnets, security group and node role,
the controller reads the interruption queue that EventBridge fills, and the pool's capacity types
and limits are the stack's."""

from __future__ import annotations

import json

import pytest

from tests.support.cluster_render import render_stack


@pytest.mark.parametrize(("stack", "capacity"), [("dev", ["spot", "on-demand"]), ("prod", ["on-demand"])])
def test_karpenter_is_wired_to_what_the_program_creates(stack: str, capacity: list[str]) -> None:
    cluster = render_stack(stack)
    run = cluster.run
    (pool,) = cluster.of_kind("NodePool")
    (node_class,) = cluster.of_kind("EC2NodeClass")
    spec = pool.doc["spec"]
    assert spec["template"]["spec"]["nodeClassRef"]["name"] == node_class.name
    requirements = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
    assert requirements["karpenter.sh/capacity-type"] == capacity
    assert spec["limits"]["cpu"] and spec["limits"]["memory"].endswith("Gi")

    cluster_name = run.outputs["clusterName"]
    subnets = [s for s in run.of_type("aws:ec2/subnet:Subnet") if "private" in s.name]
    (selector,) = node_class.doc["spec"]["subnetSelectorTerms"]
    assert subnets and all(
        subnet.inputs["tags"].get(key) == value for subnet in subnets for key, value in selector["tags"].items()
    )
    assert node_class.doc["spec"]["role"] == run.named("cluster-nodes").name
    assert node_class.doc["spec"]["securityGroupSelectorTerms"] == [{"tags": {"aws:eks:cluster-name": cluster_name}}]

    controller = next(m for m in cluster.of_kind("Deployment") if m.name == "karpenter")
    env = {e["name"]: e.get("value") for e in controller.doc["spec"]["template"]["spec"]["containers"][0]["env"]}
    queue = run.one("aws:sqs/queue:Queue")
    assert env["INTERRUPTION_QUEUE"] == queue.name + "-id" or env["INTERRUPTION_QUEUE"] == queue.inputs.get(
        "name", queue.name
    )
    assert env["CLUSTER_NAME"] == cluster_name
    targets = run.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == 4 and all(queue.urn in t.property_dependencies.get("arn", []) for t in targets)
    patterns = {
        json.loads(r.inputs["eventPattern"])["detail-type"][0]
        for r in run.of_type("aws:cloudwatch/eventRule:EventRule")
    }
    assert "EC2 Spot Instance Interruption Warning" in patterns


def test_the_controller_role_writes_only_what_is_tagged_for_the_cluster() -> None:
    run = render_stack("prod").run
    policy = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", "cluster-services-karpenter-inline").inputs["policy"])
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        writes = [a for a in actions if a.split(":")[1].startswith(("Run", "Create", "Terminate", "Delete"))]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        by_pattern = any(r == "*" or r.endswith("/*") for r in resources)
        # Launching reads shared images, subnets and security groups, which carry no cluster tag.
        if writes and by_pattern and statement["Sid"] != "LaunchFromSharedResources":
            assert "Condition" in statement, statement["Sid"]
    passing = next(s for s in policy["Statement"] if s["Action"] == "iam:PassRole")
    assert passing["Resource"] == "arn:aws:iam::123456789012:role/cluster-nodes"
    trust = json.loads(run.one("aws:iam/role:Role", "cluster-services-karpenter").inputs["assumeRolePolicy"])
    subject = next(v for k, v in trust["Statement"][0]["Condition"]["StringEquals"].items() if k.endswith(":sub"))
    assert subject == "system:serviceaccount:kube-system:karpenter"

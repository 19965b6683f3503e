"""Network: subnet plan, NAT strategy per stack, endpoints, flow logs and EKS subnet tags."""

from __future__ import annotations

import ipaddress
from itertools import combinations

import pytest

from components.network import INTERFACE_ENDPOINT_SERVICES, plan_subnets
from tests.support.pulumi_harness import run_program


@pytest.mark.parametrize(
    ("cidr", "zones"),
    [
        ("10.0.0.0/16", 2),
        ("10.0.0.0/16", 3),
        ("10.0.0.0/16", 6),
        ("172.16.0.0/20", 4),
        ("192.168.10.0/24", 2),
        ("192.168.10.0/24", 3),
    ],
)
def test_subnet_plan_is_disjoint_inside_the_vpc_and_private_subnets_are_larger(cidr: str, zones: int) -> None:
    names = [f"us-east-1{chr(ord('a') + i)}" for i in range(zones)]
    plan = plan_subnets(cidr, names)
    vpc = ipaddress.IPv4Network(cidr)
    networks = [ipaddress.IPv4Network(p.public_cidr) for p in plan] + [
        ipaddress.IPv4Network(p.private_cidr) for p in plan
    ]
    assert [p.availability_zone for p in plan] == names
    assert all(network.subnet_of(vpc) for network in networks)
    assert not any(a.overlaps(b) for a, b in combinations(networks, 2))
    for p in plan:
        assert ipaddress.IPv4Network(p.private_cidr).num_addresses > ipaddress.IPv4Network(p.public_cidr).num_addresses


def test_subnet_plan_refuses_a_vpc_too_small_for_its_zones() -> None:
    with pytest.raises(ValueError, match="too small for 4 AZs"):
        plan_subnets("192.168.10.0/24", ["a", "b", "c", "d"])


@pytest.mark.parametrize(("stack", "zones", "nat_gateways"), [("dev", 2, 1), ("prod", 3, 3)])
def test_azs_and_nat_gateways_per_stack(stack: str, zones: int, nat_gateways: int) -> None:
    run = run_program(stack)
    subnets = run.of_type("aws:ec2/subnet:Subnet")
    assert len({s.inputs["availabilityZone"] for s in subnets}) == zones
    assert len(subnets) == 2 * zones
    nats = run.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == nat_gateways
    private_tables = [t for t in run.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in t.name]
    assert len(private_tables) == zones
    # Every private route table sends its default route through a NAT gateway that exists.
    nat_ids = {f"{n.name}-id" for n in nats}
    assert {t.inputs["routes"][0]["natGatewayId"] for t in private_tables} == nat_ids


def test_subnets_carry_the_tags_eks_load_balancers_need() -> None:
    run = run_program("prod")
    for subnet in run.of_type("aws:ec2/subnet:Subnet"):
        tags = subnet.inputs["tags"]
        assert tags["kubernetes.io/cluster/mlops-prod-eks"] == "shared"
        role_tag = "kubernetes.io/role/elb" if "-public-" in subnet.name else "kubernetes.io/role/internal-elb"
        assert tags[role_tag] == "1"
        assert subnet.inputs.get("mapPublicIpOnLaunch") in (False, None)


def test_s3_gateway_and_ecr_interface_endpoints() -> None:
    run = run_program("dev")
    endpoints = {e.inputs["serviceName"]: e.inputs for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    s3 = endpoints["com.amazonaws.us-east-1.s3"]
    assert s3["vpcEndpointType"] == "Gateway"
    assert len(s3["routeTableIds"]) == 2
    for service in INTERFACE_ENDPOINT_SERVICES:
        endpoint = endpoints[f"com.amazonaws.us-east-1.{service}"]
        assert endpoint["vpcEndpointType"] == "Interface"
        assert endpoint["privateDnsEnabled"] is True
        assert len(endpoint["subnetIds"]) == 2


@pytest.mark.parametrize(("stack", "expected"), [("dev", 0), ("prod", 1)])
def test_flow_logs_only_where_configured(stack: str, expected: int) -> None:
    run = run_program(stack)
    flow_logs = run.of_type("aws:ec2/flowLog:FlowLog")
    assert len(flow_logs) == expected
    if expected:
        assert flow_logs[0].inputs["trafficType"] == "ALL"
        group = run.one("aws:cloudwatch/logGroup:LogGroup", "network-flow-logs")
        assert group.inputs["retentionInDays"] == 90

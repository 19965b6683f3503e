"""Config of the network area: VPC CIDR, AZs, NAT strategy, flow logs."""

from __future__ import annotations

import ipaddress
import re

from components.network import NatStrategy, NetworkSpec, plan_subnets
from stacks.config.aws_catalog import check_cidr
from stacks.config.reader import Reader


def read(reader: Reader, aws_enabled: bool, region: str | None) -> NetworkSpec:
    vpc_cidr = reader.string("vpcCidr")
    cidr_problem = check_cidr(vpc_cidr)
    if cidr_problem:
        reader.problem("vpcCidr", vpc_cidr, cidr_problem)
    elif not 16 <= ipaddress.IPv4Network(vpc_cidr).prefixlen <= 24:
        reader.problem(
            "vpcCidr",
            vpc_cidr,
            "prefix must be /16 to /24 (AWS allows /16 to /28; smaller leaves no room for one subnet pair per AZ)",
        )
    zones = reader.string_list("availabilityZones")
    if aws_enabled:
        _check_zones(reader, zones, region)
        if not cidr_problem and len(zones) >= 2:
            try:
                plan_subnets(vpc_cidr, zones)
            except ValueError:
                reader.problem(
                    "vpcCidr",
                    vpc_cidr,
                    f"too small for {len(zones)} AZs (each needs a /28 public "
                    "subnet at least); use a larger block such as /20",
                )
    nat: NatStrategy = reader.choice("natGateways", NatStrategy)
    return NetworkSpec(vpc_cidr, zones, nat, reader.boolean("flowLogs"))


def _check_zones(reader: Reader, zones: tuple[str, ...], region: str | None) -> None:
    if len(zones) < 2:
        reader.problem(
            "availabilityZones",
            list(zones),
            "needs at least 2 AZs (EKS requires subnets in two AZs; use 3 for high availability)",
        )
    if len(set(zones)) != len(zones):
        reader.problem("availabilityZones", list(zones), "lists an AZ more than once")
    if region:
        reader.each(
            "availabilityZones",
            zones,
            lambda zone: (
                None
                if re.fullmatch(re.escape(region) + r"[a-z]", zone)
                else f"is not an AZ of aws:region {region} (e.g. {region}a)"
            ),
        )

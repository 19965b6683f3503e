"""Network: the VPC every other AWS piece lives in."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy, policy_document

# Interface endpoints that let nodes in private subnets pull images without the NAT gateway.
INTERFACE_ENDPOINT_SERVICES = ("ecr.api", "ecr.dkr")


@dataclass(frozen=True)
class SubnetPlan:
    availability_zone: str
    public_cidr: str
    private_cidr: str


def plan_subnets(vpc_cidr: str, availability_zones: Sequence[str]) -> list[SubnetPlan]:
    """Carve one public and one private subnet per AZ out of the VPC CIDR.

    Private subnets get the large blocks (pods take VPC addresses with the VPC CNI); public
    subnets, which hold only NAT gateways and load balancers, share the one block left over.
    """
    vpc = ipaddress.IPv4Network(vpc_cidr)
    count = len(availability_zones)
    if count == 0:
        return []
    private_bits = math.ceil(math.log2(count + 1))
    private_blocks = list(vpc.subnets(prefixlen_diff=private_bits))
    public_bits = math.ceil(math.log2(count)) if count > 1 else 0
    spare = private_blocks[-1]
    public_blocks = list(spare.subnets(prefixlen_diff=public_bits))
    if public_blocks[0].prefixlen > 28:
        raise ValueError(f"{vpc_cidr} is too small for {count} AZs")
    return [
        SubnetPlan(zone, str(public_blocks[index]), str(private_blocks[index]))
        for index, zone in enumerate(availability_zones)
    ]


# NAT strategies: one gateway for the VPC (cheap) or one per AZ (survives an AZ outage).
NatStrategy = Literal["single", "perAz"]


@dataclass(frozen=True)
class NetworkSpec:
    """What a stack decides about its network (read from config by stacks.config.network)."""

    vpc_cidr: str
    availability_zones: Sequence[str]
    nat_gateways: NatStrategy
    flow_logs: bool


@dataclass(frozen=True)
class NetworkArgs:
    spec: NetworkSpec
    name_prefix: str
    region: str
    log_retention_days: int
    # Subnets carry `kubernetes.io/cluster/<name>` so the AWS load balancer integration finds them.
    cluster_name: str


class Network(pulumi.ComponentResource):
    """VPC with public and private subnets over the given AZs, NAT, VPC endpoints and flow logs."""

    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = args.name_prefix
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.spec.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{prefix}-vpc"},
            opts=child,
        )
        # Take over the default security group and leave it without rules, so nothing lands in an
        # allow-all group by accident.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, tags={"Name": f"{prefix}-default"}, opts=child
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{prefix}-igw"}, opts=child)

        public_route_table = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={"Name": f"{prefix}-public"},
            opts=child,
        )

        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        private_route_tables: list[aws.ec2.RouteTable] = []
        nat_gateways: list[aws.ec2.NatGateway] = []
        for index, plan in enumerate(plan_subnets(args.spec.vpc_cidr, args.spec.availability_zones)):
            zone = plan.availability_zone
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=plan.public_cidr,
                map_public_ip_on_launch=False,
                tags={"Name": f"{prefix}-public-{zone}", "kubernetes.io/role/elb": "1", **cluster_tag},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=public.id, route_table_id=public_route_table.id, opts=child
            )
            public_subnets.append(public)

            if args.spec.nat_gateways == "perAz" or index == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags={"Name": f"{prefix}-nat-{zone}"}, opts=child)
                nat_gateways.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{zone}",
                        allocation_id=eip.id,
                        subnet_id=public.id,
                        tags={"Name": f"{prefix}-nat-{zone}"},
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                    )
                )
            nat = nat_gateways[-1]

            private = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=plan.private_cidr,
                tags={
                    "Name": f"{prefix}-private-{zone}",
                    "kubernetes.io/role/internal-elb": "1",
                    # Where Karpenter launches nodes (components/addons/karpenter.py).
                    "karpenter.sh/discovery": args.cluster_name,
                    **cluster_tag,
                },
                opts=child,
            )
            route_table = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags={"Name": f"{prefix}-private-{zone}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=private.id, route_table_id=route_table.id, opts=child
            )
            private_subnets.append(private)
            private_route_tables.append(route_table)

        self._endpoints(
            name, vpc, args, private_route_tables=private_route_tables, private_subnets=private_subnets, child=child
        )

        if args.spec.flow_logs:
            self._flow_logs(name, vpc, args, child)

        self.vpc_id = vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in public_subnets])
        self.private_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in private_subnets])
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
            }
        )

    @staticmethod
    def _endpoints(
        name: str,
        vpc: aws.ec2.Vpc,
        args: NetworkArgs,
        *,
        private_route_tables: list[aws.ec2.RouteTable],
        private_subnets: list[aws.ec2.Subnet],
        child: pulumi.ResourceOptions,
    ) -> None:
        """S3 through a gateway endpoint, ECR through interface endpoints: image pulls and model
        downloads stay inside the VPC, off the NAT gateway."""
        prefix = args.name_prefix
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in private_route_tables],
            tags={"Name": f"{prefix}-s3"},
            opts=child,
        )
        endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=vpc.id,
            description="HTTPS from inside the VPC to interface endpoints",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[args.spec.vpc_cidr],
                    description="HTTPS from the VPC",
                )
            ],
            tags={"Name": f"{prefix}-endpoints"},
            opts=child,
        )
        for service in INTERFACE_ENDPOINT_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[subnet.id for subnet in private_subnets],
                security_group_ids=[endpoint_sg.id],
                tags={"Name": f"{prefix}-{service}"},
                opts=child,
            )

    @staticmethod
    def _flow_logs(name: str, vpc: aws.ec2.Vpc, args: NetworkArgs, child: pulumi.ResourceOptions) -> None:
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/aws/vpc/{args.name_prefix}/flow-logs",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=assume_role_policy("vpc-flow-logs.amazonaws.com"),
            description="Lets VPC flow logs write to their log group",
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: policy_document(
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        "Resource": [arn, f"{arn}:*"],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=child,
        )

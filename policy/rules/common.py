"""What every rule module shares: how a rule is declared and reported, policy documents as
lists of statements, and address space."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, cast

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
REQUIRED_TAGS = ("project", "stack", "owner", "cost-center")
# General-purpose buckets, under both names pulumi-aws 7 registers them by.

INTERNET_SIZE = 2**24


class Report(Protocol):
    """pulumi-policy's report callback: the urn defaults to the resource being validated."""

    def __call__(self, message: str, urn: str | None = None) -> None: ...


Validate = Callable[[ResourceValidationArgs, Report], None]


def _resource_policy(
    name: str, description: str, remediation: str, types: Iterable[str] | None, check: Validate
) -> ResourceValidationPolicy:
    wanted = tuple(types) if types is not None else None

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if wanted is None or args.resource_type in wanted:
            check(args, cast(Report, report))

    return ResourceValidationPolicy(
        name=name,
        description=description,
        remediation_steps=remediation,
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate,
    )


def _stack_policy(
    name: str, description: str, remediation: str, check: Callable[[StackValidationArgs, Report], None]
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        check(args, cast(Report, report))

    return StackValidationPolicy(
        name=name,
        description=description,
        remediation_steps=remediation,
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate,
    )


PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def covers_the_internet(cidrs: Iterable[str]) -> bool:
    """Do these ranges, together, admit more public addresses than INTERNET_SIZE? Splitting
    0.0.0.0/0 into pieces does not make it smaller."""
    networks: list[ipaddress.IPv4Network] = []
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr, strict=False)
        if isinstance(network, ipaddress.IPv4Network):
            networks.append(network)
        elif network.prefixlen <= 8:  # IPv6: a /8 or larger is the internet
            return True
    public = 0
    for network in ipaddress.collapse_addresses(networks):
        inside = sum(block.num_addresses for block in PRIVATE_RANGES if block.subnet_of(network))
        public += 0 if any(network.subnet_of(block) for block in PRIVATE_RANGES) else network.num_addresses - inside
    return public > INTERNET_SIZE


def _statements(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _judge_documents(
    args: ResourceValidationArgs, report: Report, documents: Iterable[Any], judge: Callable[[Any], list[str]]
) -> None:
    for document in documents:
        if not isinstance(document, str) or not document:
            continue  # not known until apply, or none
        for problem in judge(json.loads(document)):
            report(f"{args.name} {problem}")

"""What AWS offers, from botocore's service models (offline, kept current by boto3): instance
types and regions that config values are checked against, with a near match when one is wrong."""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Callable
from functools import cache


@cache
def ec2_instance_types() -> frozenset[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("ec2")
    return frozenset(model.shape_for("InstanceType").enum)


@cache
def sagemaker_instance_types() -> frozenset[str]:
    """Every SageMaker hosting instance type."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for("ProductionVariantInstanceType").enum)


@cache
def regions() -> frozenset[str]:
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    )


def near(value: str, known: frozenset[str], count: int = 1, noun: str = "") -> str:
    """`; did you mean <noun>X?` for the closest known values, or nothing."""
    close = difflib.get_close_matches(value, sorted(known), n=count)
    return f"; did you mean {noun}{' or '.join(close)}?" if close else ""


def check_instance_type(instance_type: str) -> str | None:
    known = ec2_instance_types()
    if instance_type in known:
        return None
    family = instance_type.split(".", 1)[0]
    families = frozenset(name.split(".", 1)[0] for name in known)
    if family not in families:
        return (
            f"unknown instance family {family!r}{near(family, families, 3, 'family ')} (an EC2 type such as m6i.large)"
        )
    sizes = sorted(name for name in known if name.startswith(family + "."))
    return f"unknown size for family {family!r}; allowed: {', '.join(sizes)}"


def check_cidr(cidr: str) -> str | None:
    try:
        ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as error:
        return f"not an IPv4 CIDR ({error}); e.g. 10.0.0.0/16"
    return None


def check_allowed_range(what: str) -> Callable[[str], str | None]:
    """A check for a range that admits callers to `what`: an IPv4 CIDR, and not the whole internet."""

    def check(cidr: str) -> str | None:
        problem = check_cidr(cidr)
        if problem:
            return problem
        if ipaddress.IPv4Network(cidr).prefixlen == 0:
            return f"opens {what} to the whole internet; list your VPN or office ranges"
        return None

    return check

"""The platform's mandatory policies, each with a description and the remediation to apply, one
module per area.

`pulumi preview --policy-pack policy` runs them against every resource a stack would register;
the tests feed them each stack's resources under Pulumi mocks, so a violation fails `pytest` first.
A value not known yet (an unresolved output during preview) is not judged: reading it raises
inside pulumi-policy, which skips the check until `pulumi up` knows the value.

The Pulumi CLI runs the pack from its folder (`import rules`); the tests import `policy.rules`.
"""

from __future__ import annotations

from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from . import eks, iam, kubernetes, s3, services
from .common import REQUIRED_TAGS, covers_the_internet
from .kubernetes import POD_SECURITY_EXEMPTIONS

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    *s3.POLICIES,
    *services.POLICIES,
    *eks.POLICIES,
    *iam.POLICIES,
    *kubernetes.POLICIES,
]

__all__ = ["POD_SECURITY_EXEMPTIONS", "POLICIES", "REQUIRED_TAGS", "covers_the_internet"]

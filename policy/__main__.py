"""The policy pack: `pulumi preview --policy-pack policy` (the CLI runs this file from this folder)."""

from pulumi_policy import EnforcementLevel, PolicyPack

try:
    from rules import POLICIES  # run by the Pulumi CLI, with this folder on sys.path
except ImportError:  # run as `python -m policy` from the repository
    from policy.rules import POLICIES

PolicyPack(
    name="mlops-platform",
    description="Guards every stack of mlops-platform: private encrypted storage, least privilege, no public "
    "endpoints, logs kept for a bounded time, tagged resources, hardened workloads.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)

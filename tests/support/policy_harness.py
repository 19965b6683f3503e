"""Feed the resources a stack registers under mocks through the policy pack, offline.

`pulumi preview --policy-pack policy` hands the pack every resource with its properties, provider,
parent and property dependencies; this does the same from a `StackRun`, so a violation fails the
tests before anyone previews against AWS.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.rules import POLICIES, REQUIRED_TAGS
from tests.support.pulumi_harness import StackRun


@dataclass(frozen=True)
class Violation:
    policy: str
    message: str
    urn: str


def _options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def policy_resources(run: StackRun) -> list[PolicyResource]:
    """The run's resources as the policy engine sees them (providers resolved, links kept)."""
    providers = {
        r.urn: PolicyProviderResource(r.type, r.inputs, r.urn, r.name)
        for r in run.resources
        if r.type.startswith("pulumi:providers:")
    }
    by_urn: dict[str, PolicyResource] = {}
    for registered in run.resources:
        provider = providers.get((registered.provider or "").rsplit("::", 1)[0])
        by_urn[registered.urn] = PolicyResource(
            registered.type,
            copy.deepcopy(registered.inputs),
            registered.urn,
            registered.name,
            _options(registered.parent or None),
            provider,
            None,
            [],
            {},
        )
    for registered in run.resources:
        resource = by_urn[registered.urn]
        resource.parent = by_urn.get(registered.parent)
        resource.dependencies = [by_urn[urn] for urn in registered.dependencies if urn in by_urn]
        resource.property_dependencies = {
            key: [by_urn[urn] for urn in urns if urn in by_urn]
            for key, urns in registered.property_dependencies.items()
        }
    return list(by_urn.values())


def _reporter(found: list[Violation], policy: str, default_urn: str) -> Any:
    def report(message: str, urn: str | None = None) -> None:
        found.append(Violation(policy, message, urn or default_urn))

    return report


def evaluate(resources: list[PolicyResource]) -> list[Violation]:
    """Every violation the pack reports for these resources."""
    found: list[Violation] = []
    for policy in POLICIES:
        if isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(resources), _reporter(found, policy.name, ""))  # type: ignore[misc]
            continue
        assert isinstance(policy, ResourceValidationPolicy)
        for resource in resources:
            args = ResourceValidationArgs(
                resource.resource_type, resource.props, resource.urn, resource.name, resource.opts, resource.provider
            )
            policy.validate(args, _reporter(found, policy.name, resource.urn))  # type: ignore[misc,operator]
    return found


def violations_of(run: StackRun) -> list[Violation]:
    return evaluate(policy_resources(run))


def check_one(
    resource_type: str,
    props: Mapping[str, Any],
    *,
    name: str = "subject",
    provider_props: Mapping[str, Any] | None = None,
) -> list[Violation]:
    """Violations of one resource on its own, created through a provider with `provider_props`
    (by default one whose default tags carry every required tag)."""
    if provider_props is None:
        provider_props = {"defaultTags": {"tags": dict.fromkeys(REQUIRED_TAGS, "set")}}
    provider = PolicyProviderResource("pulumi:providers:aws", dict(provider_props), "urn:provider", "aws")
    resource = PolicyResource(resource_type, dict(props), f"urn:{name}", name, _options(), provider, None, [], {})
    return evaluate([resource])

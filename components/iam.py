"""IAM helpers shared by components: policy documents and IRSA roles.

IRSA (IAM roles for service accounts) lets one Kubernetes service account, and nothing else,
assume an IAM role through the cluster's OIDC provider.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


def policy_document(*statements: dict[str, Any]) -> str:
    """An IAM policy document as JSON (statements may not contain Outputs; use Output.json_dumps then)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def arn_partition(region: str) -> str:
    """The ARN partition of a region (aws, aws-cn or aws-us-gov)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def assume_role_policy(service: str) -> str:
    """Trust policy that lets one AWS service (e.g. `ec2.amazonaws.com`) assume a role."""
    return policy_document({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


def service_role(
    name: str,
    *,
    service: str,
    description: str,
    inline_policy: pulumi.Input[str],
    opts: pulumi.ResourceOptions | None = None,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """A role one AWS service assumes, with its inline policy (a child of the role). Depend on the
    returned policy, not the role, where the permissions must be in place first."""
    role = aws.iam.Role(name, assume_role_policy=assume_role_policy(service), description=description, opts=opts)
    policy = aws.iam.RolePolicy(name, role=role.id, policy=inline_policy, opts=pulumi.ResourceOptions(parent=role))
    return role, policy


def irsa_trust_policy(
    oidc_provider_arn: pulumi.Input[str],
    oidc_provider_url: pulumi.Input[str],
    namespace: str,
    service_account: str,
) -> pulumi.Output[str]:
    """Trust policy scoped to exactly one namespace and service account (and the STS audience)."""

    def render(args: Sequence[str]) -> str:
        provider_arn, provider_url = args
        issuer = provider_url.removeprefix("https://")
        return policy_document(
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        )

    return pulumi.Output.all(oidc_provider_arn, oidc_provider_url).apply(render)


@dataclass(frozen=True)
class ServiceAccountRoles:
    """One cluster's OIDC identity provider, given once: it makes IRSA roles for that cluster's
    service accounts, so callers name only the service account and its permissions."""

    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]

    def role(
        self,
        name: str,
        *,
        namespace: str,
        service_account: str,
        managed_policy_arns: Sequence[str] = (),
        inline_policy: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> aws.iam.Role:
        """An IAM role for one Kubernetes service account, with its permissions attached.

        `inline_policy` is a JSON policy document (an Output is fine) for permissions scoped to the
        caller's resources; `managed_policy_arns` are AWS-managed policies.
        """
        role = aws.iam.Role(
            name,
            assume_role_policy=irsa_trust_policy(
                self.oidc_provider_arn, self.oidc_provider_url, namespace, service_account
            ),
            description=f"IRSA role for {namespace}/{service_account}",
            opts=opts,
        )
        child = pulumi.ResourceOptions(parent=role)
        for index, policy_arn in enumerate(managed_policy_arns):
            aws.iam.RolePolicyAttachment(f"{name}-managed-{index}", role=role.name, policy_arn=policy_arn, opts=child)
        if inline_policy is not None:
            aws.iam.RolePolicy(f"{name}-inline", role=role.id, policy=inline_policy, opts=child)
        return role

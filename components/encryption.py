"""Customer-managed KMS keys: every key the platform makes rotates yearly and waits 30 days
before deletion, and carries an alias that names what it encrypts."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

DELETION_WINDOW_DAYS = 30


def rotating_key(
    name: str,
    *,
    description: str,
    alias: str,
    opts: pulumi.ResourceOptions,
    alias_under_key: bool = False,
) -> aws.kms.Key:
    """A symmetric key with rotation on, and `alias/<alias>` pointing at it: beside the key, or a
    child of it with `alias_under_key` (where it was first created so; moving it changes its URN)."""
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=DELETION_WINDOW_DAYS,
        opts=opts,
    )
    alias_opts = pulumi.ResourceOptions(parent=key) if alias_under_key else opts
    aws.kms.Alias(name, name=f"alias/{alias}", target_key_id=key.key_id, opts=alias_opts)
    return key

"""Reusable Pulumi components, one concern each (type tokens `mlops:<area>:<Name>`).

Components take a typed args dataclass and never read `pulumi.Config`: the stack passes values in.
"""

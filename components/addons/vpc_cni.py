"""The Amazon VPC CNI: pod networking from VPC addresses."""

from components.addons.base import managed_addon

ADDON = managed_addon("vpc-cni")

"""CoreDNS: cluster DNS."""

from components.addons.base import managed_addon

ADDON = managed_addon("coredns")

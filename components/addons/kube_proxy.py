"""kube-proxy: Service virtual IPs on every node."""

from components.addons.base import managed_addon

ADDON = managed_addon("kube-proxy")

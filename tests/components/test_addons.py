"""EKS add-ons: one module each under components/addons/, all in the registry, installed in the
phase their nodes need (the CNI and kube-proxy before the node groups, the rest after them)."""

from __future__ import annotations

import pkgutil

import pytest

from components import addons
from tests.support.pulumi_harness import StackRun, run_program


@pytest.fixture(scope="module")
def prod() -> StackRun:
    return run_program("prod")


def test_every_addon_module_is_registered_once() -> None:
    modules = {info.name for info in pkgutil.iter_modules(addons.__path__)} - {"base"}
    registered = [addon.name for addon in (*addons.BEFORE_NODES, *addons.AFTER_NODES)] + list(
        addons.IN_CLUSTER + addons.ON_EKS
    )
    assert len(registered) == len(set(registered)) == len(modules)


def test_each_phase_waits_for_what_it_needs(prod: StackRun) -> None:
    installed = {r.inputs["addonName"]: r for r in prod.of_type("aws:eks/addon:Addon")}
    assert set(installed) == {addon.name for addon in (*addons.BEFORE_NODES, *addons.AFTER_NODES)}
    cluster = prod.one("eks:index:Cluster").urn
    node_groups = {r.urn for r in prod.of_type("aws:eks/nodeGroup:NodeGroup")}
    assert len(node_groups) == 2
    for addon in addons.BEFORE_NODES:
        assert cluster in installed[addon.name].dependencies
        for group in prod.of_type("aws:eks/nodeGroup:NodeGroup"):
            assert installed[addon.name].urn in group.dependencies, (addon.name, group.name)
    for addon in addons.AFTER_NODES:
        assert node_groups <= set(installed[addon.name].dependencies), addon.name
    component = prod.one("mlops:cluster:Cluster").urn
    assert all(resource.parent == component for resource in installed.values())

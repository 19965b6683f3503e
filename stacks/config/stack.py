"""The whole stack's configuration: stack-wide settings and one spec per area.

Everything that differs between stacks is read here, once, into a frozen `StackConfig`;
components never read `pulumi.Config`. Defaults live in `Pulumi.yaml` (the Pulumi CLI merges
them into every stack); each area's reader checks the merged values and returns that area's
component spec, and `load` stops the program with one message listing every problem with its key,
its value and what is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.config as runtime_config

from components.artifact_store import ArtifactStoreSpec
from components.cluster import ClusterSpec
from components.load_generator import LoadGeneratorSpec
from components.model_service import ModelServiceSpec
from components.network import NetworkSpec
from components.object_store import ObjectStoreSpec
from components.observability import ObservabilitySpec, Receivers
from components.registry import RegistrySpec
from components.retrain_relay import RetrainTrigger
from components.training import TrainingSpec
from stacks.config import alerting, cluster, managed_inference, model_service, network, observability, registry, storage
from stacks.config.aws_catalog import near, regions
from stacks.config.managed_inference import ManagedInferenceSpec
from stacks.config.reader import PROJECT, ConfigError, Reader

# The model's prefix in the models bucket and its name in the registry.
MODELS_PREFIX = "wine"
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# Secrets are not declared in Pulumi.yaml (they have no default); they are known here so that a
# typo in a key name is caught like any other.
SECRET_KEYS = (*alerting.SECRET_KEYS, "grafanaAdminPassword")


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    aws_enabled: bool
    region: str | None
    owner: str
    cost_center: str
    log_retention_days: int
    kube_context: str | None
    network: NetworkSpec
    cluster: ClusterSpec
    registry: RegistrySpec
    storage: ArtifactStoreSpec
    alerting: Receivers
    # Where drift and accuracy alerts start the retrain workflow (None: they only notify).
    retrain: RetrainTrigger | None
    observability: ObservabilitySpec
    model_service: ModelServiceSpec
    load_generator: LoadGeneratorSpec
    # The in-cluster object store of stacks without AWS.
    object_store: ObjectStoreSpec
    managed_inference: ManagedInferenceSpec
    training: TrainingSpec

    @property
    def name_prefix(self) -> str:
        """Prefix of every physical name, so that stacks of one account never collide."""
        return f"mlops-{self.stack}"

    @property
    def tags(self) -> dict[str, str]:
        """Tags every AWS resource carries (through the provider's default tags)."""
        return {
            "project": self.project,
            "stack": self.stack,
            "owner": self.owner,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
        }


def load(declared_keys: Sequence[str] | None = None) -> StackConfig:
    """Read and validate the current stack's config; raise `ConfigError` listing every problem.

    `declared_keys` are the keys `Pulumi.yaml` declares (read from it when not given); any other
    key in the project namespace is reported as unknown.
    """
    stack = pulumi.get_stack()
    reader = Reader(PROJECT, stack)
    _check_unknown_keys(reader, declared_keys if declared_keys is not None else declared_config_keys())

    aws_enabled = reader.boolean("awsEnabled")
    owner = reader.string("owner")
    cost_center = reader.string("costCenter")
    log_retention_days = reader.integer("logRetentionDays")
    if log_retention_days and log_retention_days not in LOG_RETENTION_DAYS:
        reader.problem(
            "logRetentionDays", log_retention_days, f"CloudWatch accepts only {', '.join(map(str, LOG_RETENTION_DAYS))}"
        )
    aws_reader = Reader("aws", stack)
    region = _region(aws_reader, aws_enabled)

    config = StackConfig(
        project=PROJECT,
        stack=stack,
        aws_enabled=aws_enabled,
        region=region if aws_enabled else None,
        owner=owner,
        cost_center=cost_center,
        log_retention_days=log_retention_days,
        kube_context=reader.string("kubeContext") or None,
        network=network.read(reader, aws_enabled, region),
        cluster=cluster.read(reader, aws_enabled),
        registry=registry.read(reader),
        storage=storage.read(reader),
        alerting=alerting.read(reader),
        retrain=alerting.read_retrain(reader),
        observability=observability.read(reader, aws_enabled),
        model_service=model_service.read(reader),
        load_generator=model_service.read_load_generator(reader),
        object_store=storage.read_object_store(reader),
        managed_inference=managed_inference.read(reader, aws_enabled),
        training=managed_inference.read_training(reader),
    )
    if aws_enabled:
        _check_retention_within_bucket_lifecycle(reader, config)
        if reader.boolean("modelRegistryApproval"):
            _check_served_versions_are_approved(reader, config)
    problems = aws_reader.problems + reader.problems
    if problems:
        raise ConfigError(f"stack {stack!r} has {len(problems)} configuration problem(s):\n" + "\n".join(problems))
    return config


def _check_served_versions_are_approved(reader: Reader, config: StackConfig) -> None:
    """Only a version whose package is Approved in the stack's model registry may be served
    (modelVersion, modelCanaryVersion): read from SageMaker when the program runs."""
    service = config.model_service
    served = [
        (key, version)
        for key, version in (("modelVersion", service.model_version), ("modelCanaryVersion", service.canary_version))
        if version
    ]
    if not served:
        return
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from components.model_registry import package_group_name
    from delivery.model_registry import check

    group = package_group_name(config.name_prefix, MODELS_PREFIX)
    client = boto3.client("sagemaker", region_name=config.region)
    for key, version in served:
        try:
            problem = check(client, group, version)
        except (BotoCoreError, ClientError) as error:
            problem = (
                f"cannot read the model registry {group} ({error}); a stack's first deploy has no registry yet "
                "and serves no model: leave modelVersion empty until then"
            )
        if problem:
            reader.problem(key, version, problem)


def _check_retention_within_bucket_lifecycle(reader: Reader, config: StackConfig) -> None:
    """Loki and Tempo keep their data in the logs bucket, whose lifecycle deletes objects after
    logsExpirationDays: neither may keep data longer than that, or it would index deleted objects."""
    days = config.storage.expiration_days["logs"]
    for key, hours, store in (
        ("lokiRetentionHours", config.observability.loki_retention_hours, "Loki"),
        ("tracesRetentionHours", config.observability.traces_retention_hours, "Tempo"),
    ):
        if hours > days * 24:
            reader.problem(
                key,
                hours,
                f"must not exceed logsExpirationDays x 24 ({days * 24}): the logs bucket's lifecycle would "
                f"delete what {store} still indexes",
            )


def _region(aws_reader: Reader, aws_enabled: bool) -> str | None:
    region = aws_reader.config.get("region")
    if aws_enabled:
        if region is None:
            aws_reader.problem("region", None, "required when awsEnabled is true (e.g. us-east-1)")
        elif region not in regions():
            aws_reader.problem("region", region, "unknown AWS region" + near(region, regions()))
    return region


def _check_unknown_keys(reader: Reader, declared: Sequence[str]) -> None:
    known = set(declared) | set(SECRET_KEYS)
    prefix = f"{PROJECT}:"
    for full_key in sorted(set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())):
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            reader.problems.append(f"- {full_key}: unknown key{hint} (keys are listed in Pulumi.yaml and the README)")


@cache
def project_file() -> dict[str, Any]:
    """Pulumi.yaml, parsed: the declared config keys with their types, defaults and descriptions."""
    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[2] / "Pulumi.yaml").read_text())


def declared_config_keys() -> list[str]:
    return list(project_file().get("config", {}))

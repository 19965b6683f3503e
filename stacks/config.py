"""Typed, validated stack configuration.

Everything that differs between stacks is read here, once, into a frozen `StackConfig`;
components never read `pulumi.Config`. Defaults live in `Pulumi.yaml` (the Pulumi CLI merges
them into every stack); this module checks the merged values and, if anything is wrong, stops the
program with one message that lists every problem with its key, its value and what is allowed.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, TypeVar

import pulumi
import pulumi.runtime.config as runtime_config

from components.cluster import instance_architecture
from components.inference_api import AlarmThresholds
from components.network import plan_subnets
from components.sagemaker_endpoint import ProvisionedCapacity, ServerlessCapacity

PROJECT = "mlops-platform"

NatStrategy = Literal["single", "perAz"]
CapacityType = Literal["ON_DEMAND", "SPOT"]

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
SECRET_KEYS = ("alertSlackWebhookUrl", "alertSmtpPassword", "alertWebhookUrl", "grafanaAdminPassword")

_ECR_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_IAM_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_K8S_VERSION = re.compile(r"^1\.\d{2}$")

T = TypeVar("T")


class ConfigError(pulumi.RunError):
    """Invalid stack configuration; the message lists every problem and how to fix it.

    A `RunError`, so the Pulumi CLI shows the message without a Python traceback.
    """


@dataclass(frozen=True)
class NodeGroupConfig:
    instance_types: tuple[str, ...]
    min_size: int
    max_size: int
    desired_size: int
    capacity_type: CapacityType


@dataclass(frozen=True)
class NetworkConfig:
    vpc_cidr: str
    availability_zones: tuple[str, ...]
    nat_gateways: NatStrategy
    flow_logs: bool


@dataclass(frozen=True)
class ClusterConfig:
    kubernetes_version: str
    endpoint_public_access: bool
    public_access_cidrs: tuple[str, ...]
    admin_role_arns: tuple[str, ...]
    deletion_protection: bool
    system_nodes: NodeGroupConfig
    workload_nodes: NodeGroupConfig


@dataclass(frozen=True)
class RegistryConfig:
    repositories: tuple[str, ...]
    keep_images: int


@dataclass(frozen=True)
class ArtifactsConfig:
    force_destroy: bool
    logs_expiration_days: int
    capture_expiration_days: int
    noncurrent_version_expiration_days: int


@dataclass(frozen=True)
class ObservabilityConfig:
    prometheus_retention: str
    prometheus_storage_gi: int
    loki_retention_hours: int
    loki_scalable: bool


@dataclass(frozen=True)
class ModelServiceConfig:
    profile: str
    image_repository: str
    image_tag: str
    model_version: str
    min_replicas: int
    max_replicas: int


@dataclass(frozen=True)
class ManagedInferenceConfig:
    """The SageMaker endpoint and the API in front of it (built once a model version is set)."""

    enabled: bool
    capacity: ServerlessCapacity | ProvisionedCapacity
    data_capture_percent: int
    authorization: Literal["iam", "jwt"]
    jwt_issuer: str
    jwt_audiences: tuple[str, ...]
    throttle_rate_limit: int
    throttle_burst_limit: int
    alarm_emails: tuple[str, ...]
    alarm_thresholds: AlarmThresholds


@dataclass(frozen=True)
class AlertingConfig:
    """Alertmanager receivers. Credentials stay `pulumi.Output` secrets end to end."""

    slack_channel: str
    slack_webhook_url: pulumi.Output[str] | None
    email_to: str
    smtp_smarthost: str
    smtp_from: str
    smtp_password: pulumi.Output[str] | None
    webhook_url: pulumi.Output[str] | None


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
    network: NetworkConfig
    cluster: ClusterConfig
    registry: RegistryConfig
    artifacts: ArtifactsConfig
    alerting: AlertingConfig
    grafana_admin_password: pulumi.Output[str] | None
    observability: ObservabilityConfig
    model_service: ModelServiceConfig
    managed_inference: ManagedInferenceConfig

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


class _Reader:
    """Reads typed values from one config namespace and collects problems instead of raising."""

    def __init__(self, namespace: str, stack: str) -> None:
        self.namespace = namespace
        self.stack = stack
        self.config = pulumi.Config(namespace)
        self.problems: list[str] = []

    def problem(self, key: str, value: object, allowed: str, secret: bool = False) -> None:
        shown = "(not set)" if value is None else json.dumps(value)
        set_flag = "--secret " if secret else ""
        self.problems.append(
            f"- {self.namespace}:{key} = {shown}: {allowed}\n"
            f"    fix: pulumi config set {set_flag}{self.namespace}:{key} <value> --stack {self.stack}"
        )

    def _raw(self, key: str) -> str | None:
        return self.config.get(key)

    def _missing(self, key: str) -> None:
        self.problem(
            key,
            None,
            "required; its default is declared in Pulumi.yaml, so the config "
            "was not merged with Pulumi.yaml (run through the Pulumi CLI)",
        )

    def string(self, key: str, allowed: Sequence[str] | None = None) -> str:
        value = self._raw(key)
        if value is None:
            self._missing(key)
            return ""
        if allowed is not None and value not in allowed:
            self.problem(key, value, f"must be one of {', '.join(allowed)}")
        return value

    def integer(self, key: str, minimum: int | None = None, maximum: int | None = None) -> int:
        raw = self._raw(key)
        if raw is None:
            self._missing(key)
            return 0
        try:
            value = int(raw)
        except ValueError:
            self.problem(key, raw, "must be a whole number")
            return 0
        if minimum is not None and value < minimum:
            self.problem(key, value, f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            self.problem(key, value, f"must be at most {maximum}")
        return value

    def boolean(self, key: str) -> bool:
        raw = self._raw(key)
        if raw is None:
            self._missing(key)
            return False
        if raw.lower() not in ("true", "false"):
            self.problem(key, raw, "must be true or false")
            return False
        return raw.lower() == "true"

    def string_list(self, key: str) -> tuple[str, ...]:
        raw = self._raw(key)
        if raw is None:
            self._missing(key)
            return ()
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.problem(key, raw, "must be a list of strings (YAML list in Pulumi.<stack>.yaml)")
            return ()
        return tuple(value)

    def secret(self, key: str) -> pulumi.Output[str] | None:
        full_key = f"{self.namespace}:{key}"
        if self._raw(key) is None:
            return None
        if not _is_secret(full_key):
            self.problem(
                key,
                "<hidden>",
                "is stored in plain text; it must be a Pulumi secret (remove it from the stack file and set it again)",
                secret=True,
            )
        return self.config.require_secret(key)

    def each(self, key: str, values: Sequence[T], check: Callable[[T], str | None]) -> None:
        for value in values:
            message = check(value)
            if message:
                self.problem(key, value, message)


def _is_secret(full_key: str) -> bool:
    # The Pulumi CLI hands the program its secret keys in PULUMI_CONFIG_SECRET_KEYS; tests and the
    # automation API may set them in-process instead.
    return runtime_config.is_config_secret(full_key) or full_key in runtime_config.get_config_secret_keys_env()


@cache
def _known_instance_types() -> frozenset[str]:
    """Every EC2 instance type botocore's service model knows (offline, kept current by boto3)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("ec2")
    return frozenset(model.shape_for("InstanceType").enum)


@cache
def _known_sagemaker_instance_types() -> frozenset[str]:
    """Every SageMaker hosting instance type botocore's service model knows."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for("ProductionVariantInstanceType").enum)


@cache
def _known_regions() -> frozenset[str]:
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    )


def _check_instance_type(instance_type: str) -> str | None:
    known = _known_instance_types()
    if instance_type in known:
        return None
    family = instance_type.split(".", 1)[0]
    families = sorted({name.split(".", 1)[0] for name in known})
    if family not in families:
        close = difflib.get_close_matches(family, families, n=3)
        hint = f"; did you mean family {' or '.join(close)}?" if close else ""
        return f"unknown instance family {family!r}{hint} (an EC2 type such as m6i.large)"
    sizes = sorted(name for name in known if name.startswith(family + "."))
    return f"unknown size for family {family!r}; allowed: {', '.join(sizes)}"


def _check_cidr(cidr: str) -> str | None:
    try:
        ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as error:
        return f"not an IPv4 CIDR ({error}); e.g. 10.0.0.0/16"
    return None


def _read_node_group(reader: _Reader, prefix: str, capacity_key: str | None) -> NodeGroupConfig:
    instance_key = f"{prefix}NodeInstanceTypes"
    instance_types = reader.string_list(instance_key)
    if not instance_types:
        reader.problem(instance_key, list(instance_types), "must name at least one instance type")
    reader.each(instance_key, instance_types, _check_instance_type)
    if len({instance_architecture(name) for name in instance_types}) > 1:
        reader.problem(
            instance_key,
            list(instance_types),
            "mixes arm64 (Graviton) and x86_64 types; a node group runs one architecture",
        )
    min_size = reader.integer(f"{prefix}NodeMinSize", minimum=0)
    max_size = reader.integer(f"{prefix}NodeMaxSize", minimum=1)
    desired_size = reader.integer(f"{prefix}NodeDesiredSize", minimum=0)
    if min_size > max_size:
        reader.problem(f"{prefix}NodeMinSize", min_size, f"must not exceed {prefix}NodeMaxSize ({max_size})")
    elif not min_size <= desired_size <= max_size:
        reader.problem(
            f"{prefix}NodeDesiredSize",
            desired_size,
            f"must lie between {prefix}NodeMinSize ({min_size}) and {prefix}NodeMaxSize ({max_size})",
        )
    capacity: CapacityType = "ON_DEMAND"
    if capacity_key:
        capacity = reader.string(capacity_key, allowed=("ON_DEMAND", "SPOT"))  # type: ignore[assignment]
    return NodeGroupConfig(instance_types, min_size, max_size, desired_size, capacity)


def _check_unknown_keys(reader: _Reader, declared: Sequence[str]) -> None:
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


def load(declared_keys: Sequence[str] | None = None) -> StackConfig:
    """Read and validate the current stack's config; raise `ConfigError` listing every problem.

    `declared_keys` are the keys `Pulumi.yaml` declares (read from it when not given); any other
    key in the project namespace is reported as unknown.
    """
    stack = pulumi.get_stack()
    reader = _Reader(PROJECT, stack)
    _check_unknown_keys(reader, declared_keys if declared_keys is not None else declared_config_keys())

    aws_enabled = reader.boolean("awsEnabled")
    owner = reader.string("owner")
    cost_center = reader.string("costCenter")
    log_retention_days = reader.integer("logRetentionDays")
    if log_retention_days and log_retention_days not in LOG_RETENTION_DAYS:
        reader.problem(
            "logRetentionDays", log_retention_days, f"CloudWatch accepts only {', '.join(map(str, LOG_RETENTION_DAYS))}"
        )

    region = pulumi.Config("aws").get("region")
    aws_reader = _Reader("aws", stack)
    if aws_enabled:
        if region is None:
            aws_reader.problem("region", None, "required when awsEnabled is true (e.g. us-east-1)")
        elif region not in _known_regions():
            close = difflib.get_close_matches(region, sorted(_known_regions()), n=1)
            aws_reader.problem(
                "region", region, "unknown AWS region" + (f"; did you mean {close[0]}?" if close else "")
            )

    vpc_cidr = reader.string("vpcCidr")
    cidr_problem = _check_cidr(vpc_cidr)
    if cidr_problem:
        reader.problem("vpcCidr", vpc_cidr, cidr_problem)
    elif not 16 <= ipaddress.IPv4Network(vpc_cidr).prefixlen <= 24:
        reader.problem(
            "vpcCidr",
            vpc_cidr,
            "prefix must be /16 to /24 (AWS allows /16 to /28; smaller leaves no room for one subnet pair per AZ)",
        )
    zones = reader.string_list("availabilityZones")
    if aws_enabled:
        if len(zones) < 2:
            reader.problem(
                "availabilityZones",
                list(zones),
                "needs at least 2 AZs (EKS requires subnets in two AZs; use 3 for high availability)",
            )
        if len(set(zones)) != len(zones):
            reader.problem("availabilityZones", list(zones), "lists an AZ more than once")
        if region:
            reader.each(
                "availabilityZones",
                zones,
                lambda zone: (
                    None
                    if re.fullmatch(re.escape(region) + r"[a-z]", zone)
                    else f"is not an AZ of aws:region {region} (e.g. {region}a)"
                ),
            )
    if aws_enabled and not cidr_problem and len(zones) >= 2:
        try:
            plan_subnets(vpc_cidr, zones)
        except ValueError:
            reader.problem(
                "vpcCidr",
                vpc_cidr,
                f"too small for {len(zones)} AZs (each needs a /28 public "
                "subnet at least); use a larger block such as /20",
            )
    nat: NatStrategy = reader.string("natGateways", allowed=("single", "perAz"))  # type: ignore[assignment]
    network = NetworkConfig(vpc_cidr, zones, nat, reader.boolean("flowLogs"))

    kubernetes_version = reader.string("kubernetesVersion")
    if kubernetes_version and not _K8S_VERSION.match(kubernetes_version):
        reader.problem("kubernetesVersion", kubernetes_version, "must be a minor version such as 1.33")
    public_cidrs = reader.string_list("clusterPublicAccessCidrs")
    reader.each("clusterPublicAccessCidrs", public_cidrs, _check_cidr)
    reader.each(
        "clusterPublicAccessCidrs",
        public_cidrs,
        lambda cidr: (
            "opens the cluster API to the whole internet; list your VPN or office ranges"
            if not _check_cidr(cidr) and ipaddress.IPv4Network(cidr).prefixlen == 0
            else None
        ),
    )
    endpoint_public_access = reader.boolean("clusterEndpointPublicAccess")
    if aws_enabled and endpoint_public_access and not public_cidrs:
        reader.problem(
            "clusterPublicAccessCidrs",
            [],
            "needs your VPN or office ranges while clusterEndpointPublicAccess is true "
            "(or set that to false to reach the API from inside the VPC only)",
        )
    admin_roles = reader.string_list("clusterAdminRoleArns")
    reader.each(
        "clusterAdminRoleArns",
        admin_roles,
        lambda arn: (
            None if _IAM_ROLE_ARN.match(arn) else "is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)"
        ),
    )
    cluster = ClusterConfig(
        kubernetes_version=kubernetes_version,
        endpoint_public_access=endpoint_public_access,
        public_access_cidrs=public_cidrs,
        admin_role_arns=admin_roles,
        deletion_protection=reader.boolean("clusterDeletionProtection"),
        system_nodes=_read_node_group(reader, "system", None),
        workload_nodes=_read_node_group(reader, "workloads", "workloadsCapacityType"),
    )

    repositories = reader.string_list("ecrRepositories")
    reader.each(
        "ecrRepositories",
        repositories,
        lambda name: (
            None
            if _ECR_NAME.match(name) and len(name) <= 200
            else "is not a valid ECR repository name (lowercase letters, digits, . _ - /)"
        ),
    )
    if "model-service" not in repositories:
        reader.problem("ecrRepositories", list(repositories), "must include model-service (the model image)")
    registry = RegistryConfig(repositories, reader.integer("ecrKeepImages", minimum=1, maximum=1000))

    artifacts = ArtifactsConfig(
        force_destroy=reader.boolean("bucketForceDestroy"),
        logs_expiration_days=reader.integer("logsExpirationDays", minimum=1),
        capture_expiration_days=reader.integer("captureExpirationDays", minimum=1),
        noncurrent_version_expiration_days=reader.integer("noncurrentVersionExpirationDays", minimum=1),
    )

    alerting = _read_alerting(reader)
    observability = _read_observability(reader)
    model_service = _read_model_service(reader)
    managed_inference = _read_managed_inference(reader, aws_enabled)
    grafana_password = reader.secret("grafanaAdminPassword")
    kube_context = reader.string("kubeContext") or None

    problems = aws_reader.problems + reader.problems
    if problems:
        raise ConfigError(f"stack {stack!r} has {len(problems)} configuration problem(s):\n" + "\n".join(problems))
    return StackConfig(
        project=PROJECT,
        stack=stack,
        aws_enabled=aws_enabled,
        region=region if aws_enabled else None,
        owner=owner,
        cost_center=cost_center,
        log_retention_days=log_retention_days,
        kube_context=kube_context,
        network=network,
        cluster=cluster,
        registry=registry,
        artifacts=artifacts,
        alerting=alerting,
        grafana_admin_password=grafana_password,
        observability=observability,
        model_service=model_service,
        managed_inference=managed_inference,
    )


def _read_observability(reader: _Reader) -> ObservabilityConfig:
    retention = reader.string("prometheusRetention")
    if retention and not re.fullmatch(r"\d+(h|d|w|y)", retention):
        reader.problem("prometheusRetention", retention, "must be a Prometheus duration such as 15d, 72h or 4w")
    return ObservabilityConfig(
        prometheus_retention=retention,
        prometheus_storage_gi=reader.integer("prometheusStorageGi", minimum=1, maximum=16384),
        loki_retention_hours=reader.integer("lokiRetentionHours", minimum=24),
        loki_scalable=reader.boolean("lokiScalable"),
    )


def _read_model_service(reader: _Reader) -> ModelServiceConfig:
    profile = reader.string("modelServiceProfile", allowed=("local", "dev", "prod"))
    tag = reader.string("modelServiceImageTag")
    if tag and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        reader.problem("modelServiceImageTag", tag, "must be a valid image tag (letters, digits, _ . -)")
    version = reader.string("modelVersion")
    if version and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", version):
        reader.problem("modelVersion", version, "must be a version directory name as `model-service train` prints it")
    minimum = reader.integer("modelServiceMinReplicas", minimum=1)
    maximum = reader.integer("modelServiceMaxReplicas", minimum=1)
    if minimum > maximum:
        reader.problem("modelServiceMinReplicas", minimum, f"must not exceed modelServiceMaxReplicas ({maximum})")
    return ModelServiceConfig(profile, reader.string("modelServiceImageRepository"), tag, version, minimum, maximum)


def _read_managed_inference(reader: _Reader, aws_enabled: bool) -> ManagedInferenceConfig:
    enabled = reader.boolean("sagemakerEnabled")
    if enabled and not aws_enabled:
        reader.problem("sagemakerEnabled", True, "needs awsEnabled: true (SageMaker, Lambda and API Gateway are AWS)")
    mode = reader.string("sagemakerMode", allowed=("serverless", "provisioned"))
    memory = reader.integer("sagemakerServerlessMemoryMb", minimum=1024, maximum=6144)
    if memory % 1024:
        reader.problem("sagemakerServerlessMemoryMb", memory, "must be a multiple of 1024 (1024, 2048, ... 6144)")
    concurrency = reader.integer("sagemakerServerlessMaxConcurrency", minimum=1, maximum=200)
    instance_type = reader.string("sagemakerInstanceType")
    known = _known_sagemaker_instance_types()
    if instance_type not in known:
        close = difflib.get_close_matches(instance_type, sorted(known), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        reader.problem("sagemakerInstanceType", instance_type, f"not a SageMaker hosting instance type{hint}")
    minimum = reader.integer("sagemakerInstanceCount", minimum=1)
    maximum = reader.integer("sagemakerMaxInstanceCount", minimum=1)
    if mode == "provisioned" and minimum < 2:
        reader.problem(
            "sagemakerInstanceCount",
            minimum,
            "must be at least 2 when provisioned (SageMaker spreads instances over AZs only with 2 or more; "
            "use sagemakerMode serverless for a cheap stack)",
        )
    if minimum > maximum:
        reader.problem("sagemakerInstanceCount", minimum, f"must not exceed sagemakerMaxInstanceCount ({maximum})")
    capacity: ServerlessCapacity | ProvisionedCapacity
    if mode == "provisioned":
        capacity = ProvisionedCapacity(
            instance_type, minimum, maximum, reader.integer("sagemakerInvocationsPerInstance", minimum=1)
        )
    else:
        capacity = ServerlessCapacity(memory, concurrency)

    authorization = reader.string("apiAuthorization", allowed=("iam", "jwt"))
    issuer = reader.string("apiJwtIssuer")
    audiences = reader.string_list("apiJwtAudiences")
    if authorization == "jwt":
        if not issuer.startswith("https://"):
            reader.problem("apiJwtIssuer", issuer, "required as an https:// URL because apiAuthorization is jwt")
        if not audiences:
            reader.problem("apiJwtAudiences", [], "needs at least one audience because apiAuthorization is jwt")
    emails = reader.string_list("alarmEmails")
    reader.each(
        "alarmEmails",
        emails,
        lambda email: None if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) else "not an e-mail address",
    )
    return ManagedInferenceConfig(
        enabled=enabled,
        capacity=capacity,
        data_capture_percent=reader.integer("sagemakerDataCapturePercent", minimum=0, maximum=100),
        authorization=authorization,  # type: ignore[arg-type]
        jwt_issuer=issuer,
        jwt_audiences=audiences,
        throttle_rate_limit=reader.integer("apiThrottleRateLimit", minimum=1, maximum=10000),
        throttle_burst_limit=reader.integer("apiThrottleBurstLimit", minimum=1, maximum=5000),
        alarm_emails=emails,
        alarm_thresholds=AlarmThresholds(
            api_5xx_percent=reader.integer("alarmApi5xxPercent", minimum=1, maximum=100),
            api_latency_p99_ms=reader.integer("alarmApiLatencyP99Ms", minimum=1, maximum=30000),
            model_latency_p99_ms=reader.integer("alarmModelLatencyP99Ms", minimum=1, maximum=60000),
        ),
    )


def _read_alerting(reader: _Reader) -> AlertingConfig:
    slack_channel = reader.string("alertSlackChannel")
    slack_webhook = reader.secret("alertSlackWebhookUrl")
    if slack_channel and slack_webhook is None:
        reader.problem(
            "alertSlackWebhookUrl", None, f"required because alertSlackChannel is set ({slack_channel})", secret=True
        )
    email_to = reader.string("alertEmailTo")
    smarthost = reader.string("alertSmtpSmarthost")
    smtp_from = reader.string("alertSmtpFrom")
    smtp_password = reader.secret("alertSmtpPassword")
    if email_to:
        if smtp_password is None:
            reader.problem("alertSmtpPassword", None, f"required because alertEmailTo is set ({email_to})", secret=True)
        if not re.fullmatch(r"[^\s:]+:\d{1,5}", smarthost):
            reader.problem("alertSmtpSmarthost", smarthost, "required as host:port because alertEmailTo is set")
        if "@" not in smtp_from:
            reader.problem("alertSmtpFrom", smtp_from, "required (an e-mail address) because alertEmailTo is set")
    return AlertingConfig(
        slack_channel, slack_webhook, email_to, smarthost, smtp_from, smtp_password, reader.secret("alertWebhookUrl")
    )


@cache
def project_file() -> dict[str, Any]:
    """Pulumi.yaml, parsed: the declared config keys with their types, defaults and descriptions."""
    from pathlib import Path

    import yaml

    return yaml.safe_load((Path(__file__).resolve().parent.parent / "Pulumi.yaml").read_text())


def declared_config_keys() -> list[str]:
    return list(project_file().get("config", {}))

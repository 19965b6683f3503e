"""Composition: builds the components in dependency order and returns the stack outputs.

The output names are a contract that CI jobs and people read (`pulumi stack output --json`); they
are documented in the README and a test fails if one disappears or is renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.artifact_store import ArtifactStore, ArtifactStoreArgs
from components.cluster import Cluster, ClusterArgs
from components.cluster_services import ClusterServices, ClusterServicesArgs, EksContext
from components.drift_monitor import DriftMonitor, DriftMonitorArgs
from components.inference_api import GROUND_TRUTH_PREFIX as SAGEMAKER_GROUND_TRUTH_PREFIX
from components.inference_api import Capture, Feedback, InferenceApi, InferenceApiArgs
from components.load_generator import LoadGenerator, LoadGeneratorArgs
from components.loki import object_store_client as loki_object_store_client
from components.model_registry import ModelRegistry
from components.model_service import (
    CLASS_NAMES,
    FEEDBACK_SECRET,
    InClusterStore,
    ModelAccess,
    ModelService,
    ModelServiceArgs,
    ProductionDataAccess,
)
from components.model_service import NAMESPACE as MODEL_SERVICE_NAMESPACE
from components.model_service import object_store_clients as model_service_store_clients
from components.network import Network, NetworkArgs
from components.object_store import ObjectStore
from components.observability import NAMESPACE as OBSERVABILITY_NAMESPACE
from components.observability import AwsIntegration, Observability, ObservabilityArgs, port_forward_command
from components.registry import Registry, RegistryArgs
from components.sagemaker_endpoint import (
    SageMakerEndpoint,
    SageMakerEndpointArgs,
    ServerlessCapacity,
    rollback_alarm_names,
)
from components.training import TrainingRole, TrainingRoleArgs
from stacks.config import StackConfig
from stacks.config.stack import MODELS_PREFIX


@dataclass(frozen=True)
class AwsCore:
    provider: aws.Provider
    network: Network
    cluster: Cluster
    registry: Registry
    artifacts: ArtifactStore
    account_id: pulumi.Output[str]
    training: TrainingRole
    model_registry: ModelRegistry


def build_aws(config: StackConfig) -> AwsCore:
    """The AWS core: network, cluster, registry and artifact store."""
    assert config.region is not None  # guaranteed by stacks.config when aws_enabled
    provider = aws.Provider(
        "aws",
        region=config.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=config.tags),
    )
    with_aws = pulumi.ResourceOptions(providers={"aws": provider})
    cluster_name = f"{config.name_prefix}-eks"

    network = Network(
        "network",
        NetworkArgs(
            spec=config.network,
            name_prefix=config.name_prefix,
            region=config.region,
            log_retention_days=config.log_retention_days,
            cluster_name=cluster_name,
        ),
        opts=with_aws,
    )
    cluster = Cluster(
        "cluster",
        ClusterArgs(
            spec=config.cluster,
            name=cluster_name,
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            public_subnet_ids=network.public_subnet_ids,
            log_retention_days=config.log_retention_days,
        ),
        opts=with_aws,
    )
    registry = Registry(
        "registry",
        # A disposable stack's images go with it, like its buckets.
        RegistryArgs(spec=config.registry, name_prefix=config.name_prefix, force_delete=config.storage.force_destroy),
        opts=with_aws,
    )
    artifacts = ArtifactStore(
        "artifacts",
        ArtifactStoreArgs(spec=config.storage, name_prefix=config.name_prefix),
        opts=with_aws,
    )
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id
    training = TrainingRole(
        "training",
        TrainingRoleArgs(
            spec=config.training,
            name_prefix=config.name_prefix,
            region=config.region,
            account_id=account_id,
            datasets=artifacts.bucket("datasets"),
            models=artifacts.bucket("models"),
            repository_arn=registry.repository_arns["model-service"],
        ),
        opts=with_aws,
    )
    model_registry = ModelRegistry("model-registry", config.name_prefix, MODELS_PREFIX, opts=with_aws)
    return AwsCore(provider, network, cluster, registry, artifacts, account_id, training, model_registry)


def aws_outputs(config: StackConfig, core: AwsCore) -> dict[str, Any]:
    buckets = core.artifacts.bucket_names
    return {
        "region": config.region,
        "vpcId": core.network.vpc_id,
        "privateSubnetIds": core.network.private_subnet_ids,
        "clusterName": core.cluster.name,
        "kubeconfig": core.cluster.kubeconfig,
        "oidcProviderArn": core.cluster.oidc_provider_arn,
        "ecrRepositoryUrls": core.registry.repository_urls,
        "modelServiceRepositoryUrl": core.registry.repository_urls["model-service"],
        "bucketNames": buckets,
        "datasetsBucket": buckets["datasets"],
        "modelsBucket": buckets["models"],
        "logsBucket": buckets["logs"],
        "captureBucket": buckets["capture"],
        "artifactsKmsKeyArn": core.artifacts.kms_key_arn,
        "trainingJob": core.training.settings,
        "modelPackageGroup": core.model_registry.group_name,
    }


def build_managed_inference(config: StackConfig, core: AwsCore) -> dict[str, Any]:
    """The SageMaker endpoint for `modelVersion` and the API in front of it. It needs a published
    model (and the image it was built with), so it waits until modelVersion is set."""
    managed = config.managed_inference
    version = config.model_service.model_version
    if not managed.enabled:
        return {}
    if not version:
        pulumi.log.warn(
            "sagemakerEnabled is true but modelVersion is empty: the SageMaker endpoint and the inference API "
            f"wait for a model. Publish one and pin the stack to it with `make release-model STACK={config.stack}` "
            "(or the retrain workflow), then `pulumi up`."
        )
        return {}
    assert config.region is not None
    with_aws = pulumi.ResourceOptions(providers={"aws": core.provider})
    account_id = core.account_id
    artifacts = core.artifacts
    endpoint = SageMakerEndpoint(
        "sagemaker",
        SageMakerEndpointArgs(
            endpoint_name=f"{config.name_prefix}-{MODELS_PREFIX}",
            image_uri=pulumi.Output.concat(
                core.registry.repository_urls["model-service"], ":", config.model_service.image_tag
            ),
            repository_arn=core.registry.repository_arns["model-service"],
            artifact=artifacts.model_artifact(MODELS_PREFIX, version),
            capacity=managed.capacity,
            capture_bucket=artifacts.bucket("capture"),
            data_capture_percent=managed.data_capture_percent,
            region=config.region,
            account_id=account_id,
            rollback_alarms=rollback_alarm_names(config.name_prefix),
        ),
        opts=with_aws,
    )
    # SageMaker has no data capture on serverless endpoints: the proxy samples requests there.
    proxy_capture = None
    if isinstance(managed.capacity, ServerlessCapacity) and managed.data_capture_percent > 0:
        proxy_capture = Capture(
            bucket=artifacts.bucket("capture"),
            percent=managed.data_capture_percent,
        )
    api = InferenceApi(
        "inference-api",
        InferenceApiArgs(
            spec=managed.api,
            name_prefix=config.name_prefix,
            region=config.region,
            account_id=account_id,
            endpoint_name=endpoint.endpoint_name,
            endpoint_arn=endpoint.endpoint_arn,
            variant_name=endpoint.variant_name,
            model_version=version,
            log_retention_days=config.log_retention_days,
            capture=proxy_capture,
            feedback=Feedback(bucket=core.artifacts.bucket("capture"), class_names=CLASS_NAMES),
        ),
        opts=with_aws,
    )
    # SageMaker writes its capture under <destination>/<endpoint>/<variant>/; the proxy under
    # <endpoint>/proxy/ (components.inference_api).
    name = endpoint.endpoint_name
    DriftMonitor(
        "drift-monitor",
        DriftMonitorArgs(
            name_prefix=config.name_prefix,
            endpoint_name=name,
            capture_bucket=artifacts.bucket("capture"),
            capture_prefixes=(
                pulumi.Output.concat(name, "/", name, "/", endpoint.variant_name),
                pulumi.Output.concat(name, "/proxy"),
            ),
            ground_truth_prefix=pulumi.Output.concat(SAGEMAKER_GROUND_TRUTH_PREFIX, "/", name),
            model=artifacts.model_artifact(MODELS_PREFIX, version),
            alarm_topic_arn=api.alarm_topic_arn,
            log_retention_days=config.log_retention_days,
        ),
        opts=with_aws,
    )
    return {
        "inferenceApiUrl": api.url,
        "sagemakerEndpointName": endpoint.endpoint_name,
        "inferenceFunctionName": api.function_name,
        "alarmTopicArn": api.alarm_topic_arn,
    }


def build_kubernetes(config: StackConfig, core: AwsCore | None) -> dict[str, Any]:
    """The observability stack and the model service, on the stack's cluster (EKS, or the
    current kube context when the stack has no AWS)."""
    providers: dict[str, pulumi.ProviderResource] = {}
    integration = model_access = None
    if core is not None:
        assert config.region is not None
        providers = {"aws": core.provider, "kubernetes": core.cluster.kubernetes_provider}
        integration = AwsIntegration(
            region=config.region,
            account_id=core.account_id,
            logs_bucket=core.artifacts.bucket("logs"),
            irsa=core.cluster.irsa,
        )
    else:
        providers = {"kubernetes": k8s.Provider("kubernetes", context=config.kube_context)}
    on_cluster = pulumi.ResourceOptions(providers=providers)
    # Without AWS, MinIO in the cluster is the S3 of the models, Loki's chunks and the capture.
    store = None
    loki_client = loki_object_store_client(OBSERVABILITY_NAMESPACE)
    service_clients = model_service_store_clients(MODELS_PREFIX)
    if core is None:
        store = ObjectStore("object-store", config.object_store, (loki_client, *service_clients), opts=on_cluster)
    eks = None
    if core is not None:
        assert config.region is not None
        eks = EksContext(
            cluster_name=core.cluster.name,
            region=config.region,
            account_id=core.account_id,
            vpc_id=core.network.vpc_id,
            irsa=core.cluster.irsa,
            node_role_arn=core.cluster.node_role_arn,
            node_role_name=core.cluster.node_role_name,
            node_pool=config.cluster.node_pool,
        )
    services = ClusterServices("cluster-services", ClusterServicesArgs(eks=eks), opts=on_cluster)

    observability = Observability(
        "observability",
        ObservabilityArgs(
            spec=config.observability,
            receivers=config.alerting,
            name_prefix=config.name_prefix,
            storage_class="gp3" if core is not None else None,
            aws=integration,
            after=tuple(services.releases),
            trace_sources=(MODEL_SERVICE_NAMESPACE,),
            object_store=store.access(loki_client.name) if store else None,
            retrain=config.retrain,
            stack=config.stack,
            object_store_release=store.release if store else None,
        ),
        opts=on_cluster,
    )

    service_config = config.model_service
    image_repository: pulumi.Input[str] = service_config.image_repository
    data_access = None
    if core is not None:
        image_repository = core.registry.repository_urls["model-service"]
        data_access = ProductionDataAccess(bucket=core.artifacts.bucket("capture"), irsa=core.cluster.irsa)
        if service_config.model_version:
            model_access = ModelAccess(
                artifact=core.artifacts.model_artifact(MODELS_PREFIX, service_config.model_version),
                irsa=core.cluster.irsa,
            )
    in_cluster_store = None
    if store is not None:
        service_user, publisher = service_clients
        in_cluster_store = InClusterStore(
            service=store.access(service_user.name),
            publisher=store.access(publisher.name),
            models_prefix=MODELS_PREFIX,
            release=store.release,
        )
    # The release carries a ServiceMonitor and a PrometheusRule: their CRDs come with the stack.
    model_service = ModelService(
        "model-service",
        ModelServiceArgs(
            spec=service_config,
            image_repository=image_repository,
            model=model_access,
            data=data_access,
            store=in_cluster_store,
            monitoring_namespace=observability.namespace,
            otlp_endpoint=observability.otlp_endpoint,
            after=(observability.prometheus_stack,),
        ),
        opts=on_cluster,
    )
    if config.load_generator.users:
        LoadGenerator(
            "load-generator",
            LoadGeneratorArgs(
                spec=config.load_generator,
                namespace=MODEL_SERVICE_NAMESPACE,
                target_url=f"http://{model_service.service_name}.{MODEL_SERVICE_NAMESPACE}.svc.cluster.local:8080",
                feedback_secret=FEEDBACK_SECRET,
                after=(model_service.release,),
            ),
            opts=on_cluster,
        )
    namespace = observability.namespace
    ingress = config.observability.grafana_ingress
    outputs: dict[str, Any] = {}
    if store is not None:
        outputs["objectStoreEndpoint"] = store.endpoint
        outputs["objectStoreRootPassword"] = store.root_password
    return outputs | {
        "grafanaUrl": ingress.url if ingress else "http://localhost:3000",
        "grafanaPortForward": port_forward_command(namespace, observability.grafana_service, 3000, 80),
        "grafanaAdminPassword": observability.grafana_admin_password,
        "modelFeedbackToken": model_service.feedback_token,
        "prometheusService": f"{namespace}/{observability.prometheus_service}",
        "alertmanagerService": f"{namespace}/{observability.alertmanager_service}",
    }


def build(config: StackConfig) -> dict[str, Any]:
    """Every resource of the stack; returns the stack outputs by name."""
    outputs: dict[str, Any] = {"stack": config.stack, "awsEnabled": config.aws_enabled}
    core = build_aws(config) if config.aws_enabled else None
    if core is not None:
        outputs.update(aws_outputs(config, core))
        outputs.update(build_managed_inference(config, core))
    outputs.update(build_kubernetes(config, core))
    return outputs


def main() -> None:
    """Program entry point: load the config, build, export."""
    from stacks.config import load

    for name, value in build(load()).items():
        pulumi.export(name, value)

"""ModelService: this repository's chart, with the image from the registry and read access to
exactly one prefix of the models bucket."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components import network_policies
from components.artifact_store import ModelArtifact, StoredBucket
from components.helm import project_path, resources
from components.iam import ServiceAccountRoles, policy_document
from components.object_store import ObjectStoreClient, S3Access, read_objects, write_objects
from components.workloads import LOCKED_DOWN_CONTAINER
from model_service.artifact_files import ARCHIVE_FILE

CHART = Path(__file__).resolve().parent.parent / "charts" / "model-service"
SERVICE_ACCOUNT = "model-service"
NAMESPACE = "models"
# FEEDBACK_SIGNING_KEY (every replica signs and checks feedback ids with it) and FEEDBACK_TOKEN
# (the labelling system's credential for /feedback).
FEEDBACK_SECRET = "model-service-feedback"


@dataclass(frozen=True)
class ModelAccess:
    """Which model the pods serve and how they may read it (IRSA through the cluster's OIDC)."""

    artifact: ModelArtifact
    irsa: ServiceAccountRoles


# Prefixes of the capture bucket the pods write (SageMaker's capture goes to <endpoint name>/).
CLUSTER_CAPTURE_PREFIX = "cluster/model-service"
GROUND_TRUTH_PREFIX = "ground-truth/cluster/model-service"
# The model's classes, in index order (the wine data set's; a test holds them to what training
# writes): where a label may name its class and the reader has no model at hand.
CLASS_NAMES = ("class_0", "class_1", "class_2")


@dataclass(frozen=True)
class ProductionDataAccess:
    """Where the pods keep production data: the capture bucket, written through IRSA."""

    bucket: StoredBucket
    irsa: ServiceAccountRoles

    def uri(self, prefix: str) -> pulumi.Output[str]:
        return pulumi.Output.concat("s3://", self.bucket.name, "/", prefix)

    def write_statements(self, bucket_arn: str, kms_key_arn: str) -> list[dict[str, object]]:
        """Put objects under the two prefixes (and encrypt them with the bucket's key), nothing else."""
        return [
            {
                "Sid": "WriteProductionData",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [f"{bucket_arn}/{CLUSTER_CAPTURE_PREFIX}/*", f"{bucket_arn}/{GROUND_TRUTH_PREFIX}/*"],
            },
            {
                "Sid": "EncryptProductionData",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Encrypt"],
                "Resource": [kms_key_arn],
            },
        ]


# Buckets of the in-cluster object store (components/object_store.py) the service uses.
STORE_MODELS_BUCKET = "models"
STORE_CAPTURE_BUCKET = "capture"
SERVICE_PODS = {"app.kubernetes.io/name": "model-service"}
PUBLISHER_PODS = {"app.kubernetes.io/name": "model-publisher"}
# Where the image `make up` builds keeps its model (the publish Job copies it from there).
IMAGE_MODEL_DIR = "/opt/ml/model"
OBJECT_STORE_SECRET = "model-service-object-store"
CANARY_RELEASE = "model-service-canary"
PUBLISHER_SECRET = "model-publisher-object-store"


def object_store_clients(models_prefix: str, namespace: str = NAMESPACE) -> tuple[ObjectStoreClient, ...]:
    """The service's users of an in-cluster object store: the pods read `<prefix>/` of the models
    bucket and write the production-data prefixes of the capture bucket; the publish Job writes
    `<prefix>/` of the models bucket."""
    return (
        ObjectStoreClient(
            "model-service",
            (namespace,),
            (
                *read_objects(STORE_MODELS_BUCKET, models_prefix),
                write_objects(STORE_CAPTURE_BUCKET, CLUSTER_CAPTURE_PREFIX, GROUND_TRUTH_PREFIX),
            ),
            {"matchLabels": SERVICE_PODS},
        ),
        ObjectStoreClient(
            "model-publisher",
            (namespace,),
            (write_objects(STORE_MODELS_BUCKET, models_prefix),),
            {"matchLabels": PUBLISHER_PODS},
        ),
    )


@dataclass(frozen=True)
class InClusterStore:
    """A stack without AWS: the model and production data in the in-cluster object store, read and
    written with the users `object_store_clients` declares, once `release` (the store) is up."""

    service: S3Access
    publisher: S3Access
    models_prefix: str
    release: pulumi.Resource

    def uri(self, bucket: str, prefix: str) -> str:
        return f"s3://{bucket}/{prefix}"

    def model_uri(self, version: str) -> str:
        return f"{self.uri(STORE_MODELS_BUCKET, self.models_prefix)}/{version}/{ARCHIVE_FILE}"


# Each picks charts/model-service/values-<profile>.yaml.
Profile = Literal["local", "dev", "prod"]


@dataclass(frozen=True)
class ModelServiceSpec:
    """What a stack decides about the model service (read by stacks.config.model_service)."""

    profile: Profile
    # The image's repository where the stack has no registry of its own (otherwise its ECR URL).
    image_repository: str
    image_tag: str
    # The published model to serve; empty serves none until set.
    model_version: str
    min_replicas: int
    max_replicas: int
    # Share of requests captured to the capture bucket (where the stack has one).
    capture_percent: int = 0
    # Share of new requests traced (where the cluster has a trace collector).
    trace_sample_ratio: float = 0.01
    # A canary: a second release serving this published version on `canary_replicas` pods beside
    # the stable ones (delivery/canary.py decides whether it is promoted); empty: none.
    canary_version: str = ""
    canary_replicas: int = 1


@dataclass(frozen=True)
class ModelServiceArgs:
    spec: ModelServiceSpec
    image_repository: pulumi.Input[str]
    namespace: str = NAMESPACE
    model: ModelAccess | None = None
    data: ProductionDataAccess | None = None
    # Stacks without AWS: the in-cluster object store (the model is published there from the image).
    store: InClusterStore | None = None
    allowed_namespaces: tuple[str, ...] = ()
    monitoring_namespace: str = "monitoring"
    # Alloy's OTLP/HTTP receiver (`http://host:port`); None: no tracing.
    otlp_endpoint: str | None = None
    # Resources the release needs first: the Prometheus operator's CRDs for its ServiceMonitor and
    # PrometheusRule come with the kube-prometheus-stack release.
    after: tuple[pulumi.Resource, ...] = ()


def profile_values(profile: str) -> dict[str, Any]:
    path = CHART / f"values-{profile}.yaml"
    if not path.is_file():
        raise ValueError(f"no chart values for profile {profile!r}: expected {path}")
    return yaml.safe_load(path.read_text()) or {}


class ModelService(pulumi.ComponentResource):
    """The model-service Helm release in its namespace."""

    release: k8s.helm.v3.Release
    service_name: str
    # What the labelling system sends as `Authorization: Bearer <token>` to /feedback.
    feedback_token: pulumi.Output[str]

    def __init__(self, name: str, args: ModelServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:workload:ModelService", name, None, opts)
        flows = network_policies.baseline(args.namespace)
        if args.otlp_endpoint is not None:
            port = urlparse(args.otlp_endpoint).port or 80
            flows.append(network_policies.otlp_out(args.monitoring_namespace, port))
        if args.store is not None:
            names = [SERVICE_PODS["app.kubernetes.io/name"], PUBLISHER_PODS["app.kubernetes.io/name"]]
            selector = {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": names}]}
            flows.append(network_policies.object_store_out(selector))
        namespace = network_policies.namespace(name, args.namespace, flows, parent=self)
        feedback_secret = self._feedback_secret(name, args.namespace, namespace)
        needs: list[pulumi.Resource] = [namespace, feedback_secret, *args.after]
        values = profile_values(args.spec.profile)
        values["feedback"] = {**values.get("feedback", {}), "existingSecret": FEEDBACK_SECRET}
        values["image"] = {**values.get("image", {}), "repository": args.image_repository, "tag": args.spec.image_tag}
        autoscaling = values.setdefault("autoscaling", {})
        autoscaling.update(minReplicas=args.spec.min_replicas, maxReplicas=args.spec.max_replicas)
        values["replicaCount"] = args.spec.min_replicas
        values["networkPolicy"] = {
            "enabled": True,
            "allowedNamespaces": list(args.allowed_namespaces),
            "monitoringNamespace": args.monitoring_namespace,
        }
        values["serviceAccount"] = {"create": True, "name": SERVICE_ACCOUNT, "roleArn": ""}
        if args.model is not None or args.data is not None:
            role = self._role(name, args.model, args.data, args.namespace)
            values["serviceAccount"]["roleArn"] = role.arn
        if args.model is not None:
            uri = args.model.artifact.archive_uri()
            values["model"] = {**values.get("model", {}), "name": "wine-classifier", "uri": uri}
        if args.data is not None:
            values["productionData"] = {
                "captureUri": args.data.uri(CLUSTER_CAPTURE_PREFIX),
                "capturePercent": args.spec.capture_percent,
                "groundTruthUri": args.data.uri(GROUND_TRUTH_PREFIX),
            }
        if args.otlp_endpoint is not None:
            values["tracing"] = {"otlpEndpoint": args.otlp_endpoint, "sampleRatio": args.spec.trace_sample_ratio}
        if args.store is not None:
            needs += self._in_cluster_store(name, args, values, namespace)
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="model-service",
            namespace=args.namespace,
            chart=project_path(CHART),
            values=values,
            timeout=600,
            # Without a model source no pod can become ready: do not hold `pulumi up` for it
            # (ModelNotReady fires instead). A stack without AWS that names a modelVersion serves
            # it from the in-cluster store, once the publish Job has put it there.
            skip_await=args.model is None and not values.get("model", {}).get("volume") and not args.spec.model_version,
            opts=pulumi.ResourceOptions(parent=self, depends_on=needs),
        )
        self.service_name = "model-service"
        self.canary = self._canary(name, args, values) if args.spec.canary_version else None
        self.register_outputs({"namespace": args.namespace, "service": self.service_name})

    def _canary(self, name: str, args: ModelServiceArgs, stable: dict[str, Any]) -> k8s.helm.v3.Release:
        """The canary release: the stable release's values with the canary's model, on a fixed
        number of pods labelled track=canary, without a Service, autoscaler, budget, monitors or
        policy of its own (the stable release's select every track)."""
        version = args.spec.canary_version
        uri: pulumi.Input[str]
        if args.model is not None:
            artifact = args.model.artifact
            uri = ModelArtifact(artifact.bucket, artifact.prefix, version).archive_uri()
        elif args.store is not None:
            uri = args.store.model_uri(version)
        else:
            raise ValueError("a canary needs a published model: the stack has no models bucket or in-cluster store")
        values = {
            **stable,
            "track": "canary",
            "replicaCount": args.spec.canary_replicas,
            "model": {**stable.get("model", {}), "uri": uri},
            "autoscaling": {**stable.get("autoscaling", {}), "enabled": False},
            "podDisruptionBudget": {"enabled": False},
            "service": {**stable.get("service", {}), "enabled": False},
            "networkPolicy": {**stable["networkPolicy"], "enabled": False},
            "serviceAccount": {"create": False, "name": SERVICE_ACCOUNT, "roleArn": ""},
            "monitoring": {
                "serviceMonitor": {"enabled": False},
                "prometheusRule": {"enabled": False},
                "dashboards": {"enabled": False},
            },
        }
        return k8s.helm.v3.Release(
            f"{name}-canary-release",
            name=CANARY_RELEASE,
            namespace=args.namespace,
            chart=project_path(CHART),
            values=values,
            timeout=600,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
        )

    def _in_cluster_store(
        self, name: str, args: ModelServiceArgs, values: dict[str, Any], namespace: pulumi.Resource
    ) -> list[pulumi.Resource]:
        """Point the pods at the in-cluster store and, when the stack names a model version,
        publish it there from the image first. Returns what the release must wait for."""
        store = args.store
        assert store is not None
        after = [namespace, store.release]
        secret = store.service.secret(
            f"{name}-object-store", OBJECT_STORE_SECRET, args.namespace, parent=self, after=after
        )
        values["objectStore"] = {"credentialsSecret": OBJECT_STORE_SECRET}
        values["productionData"] = {
            **values.get("productionData", {}),
            "captureUri": store.uri(STORE_CAPTURE_BUCKET, CLUSTER_CAPTURE_PREFIX),
            "capturePercent": args.spec.capture_percent,
            "groundTruthUri": store.uri(STORE_CAPTURE_BUCKET, GROUND_TRUTH_PREFIX),
        }
        version = args.spec.model_version
        if not version:
            return [secret]
        values["model"] = {**values.get("model", {}), "uri": store.model_uri(version)}
        return [secret, self._publish_job(name, args, store.uri(STORE_MODELS_BUCKET, store.models_prefix), after)]

    def _publish_job(
        self, name: str, args: ModelServiceArgs, destination: str, after: list[pulumi.Resource]
    ) -> k8s.batch.v1.Job:
        """A Job that uploads the image's model to the store (a new version is a new Job), so the
        pods load it through MODEL_URI like on AWS. Pulumi waits for it to complete."""
        store = args.store
        assert store is not None
        secret = store.publisher.secret(f"{name}-publisher", PUBLISHER_SECRET, args.namespace, parent=self, after=after)
        image = f"{args.image_repository}:{args.spec.image_tag}"
        locked_down = {**LOCKED_DOWN_CONTAINER, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        return k8s.batch.v1.Job(
            f"{name}-publish-model",
            metadata={"namespace": args.namespace, "labels": PUBLISHER_PODS},
            spec={
                "backoffLimit": 6,
                "template": {
                    "metadata": {"labels": PUBLISHER_PODS},
                    "spec": {
                        "restartPolicy": "Never",
                        "automountServiceAccountToken": False,
                        "containers": [
                            {
                                "name": "publish",
                                "image": image,
                                "imagePullPolicy": "IfNotPresent",
                                "args": ["publish", "--from", IMAGE_MODEL_DIR, "--to", destination],
                                "envFrom": [{"secretRef": {"name": PUBLISHER_SECRET}}],
                                "env": [{"name": "HOME", "value": "/tmp"}],
                                "resources": resources("50m", "128Mi", "512Mi"),
                                "securityContext": locked_down,
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, secret]),
        )

    def _feedback_secret(self, name: str, namespace: str, namespace_resource: pulumi.Resource) -> k8s.core.v1.Secret:
        """Generated credentials: a signing key every replica shares and the labelling token."""
        child = pulumi.ResourceOptions(parent=self)
        key = random.RandomPassword(f"{name}-feedback-signing-key", length=64, special=False, opts=child)
        token = random.RandomPassword(f"{name}-feedback-token", length=40, special=False, opts=child)
        self.feedback_token = pulumi.Output.secret(token.result)
        return k8s.core.v1.Secret(
            f"{name}-feedback",
            metadata={"name": FEEDBACK_SECRET, "namespace": namespace},
            string_data={
                "FEEDBACK_SIGNING_KEY": pulumi.Output.secret(key.result),
                "FEEDBACK_TOKEN": self.feedback_token,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace_resource]),
        )

    def _role(self, name: str, model: ModelAccess | None, data: ProductionDataAccess | None, namespace: str) -> Any:
        """The pods' IRSA role: read `<prefix>/*` of the models bucket (and decrypt it), write the
        production-data prefixes of the capture bucket; nothing more."""
        irsa = model.irsa if model is not None else data.irsa  # type: ignore[union-attr]
        inputs: list[pulumi.Input[str]] = []
        if model is not None:
            inputs += [model.artifact.bucket.arn, model.artifact.bucket.kms_key_arn]
        if data is not None:
            inputs += [data.bucket.arn, data.bucket.kms_key_arn]

        def document(arns: list[str]) -> str:
            statements: list[dict[str, object]] = []
            if model is not None:
                bucket_arn, key_arn = arns[0], arns[1]
                statements += model.artifact.read_statements(bucket_arn, key_arn)
                statements.append(
                    {
                        "Effect": "Allow",
                        "Action": ["s3:ListBucket"],
                        "Resource": [bucket_arn],
                        "Condition": {"StringLike": {"s3:prefix": [f"{model.artifact.prefix}/*"]}},
                    }
                )
            if data is not None:
                statements += data.write_statements(arns[-2], arns[-1])
            return policy_document(*statements)

        return irsa.role(
            f"{name}-model-reader",
            namespace=namespace,
            service_account=SERVICE_ACCOUNT,
            inline_policy=pulumi.Output.all(*inputs).apply(document),
            opts=pulumi.ResourceOptions(parent=self),
        )

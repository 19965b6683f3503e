"""ModelService: this repository's chart, with the image from the registry and read access to
exactly one prefix of the models bucket."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components import network_policies
from components.artifact_store import ModelArtifact
from components.helm import project_path
from components.iam import ServiceAccountRoles, policy_document

CHART = Path(__file__).resolve().parent.parent / "charts" / "model-service"
SERVICE_ACCOUNT = "model-service"
# FEEDBACK_SIGNING_KEY (every replica signs and checks feedback ids with it) and FEEDBACK_TOKEN
# (the labelling system's credential for /feedback).
FEEDBACK_SECRET = "model-service-feedback"


@dataclass(frozen=True)
class ModelAccess:
    """Which model the pods serve and how they may read it (IRSA through the cluster's OIDC)."""

    artifact: ModelArtifact
    irsa: ServiceAccountRoles


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


@dataclass(frozen=True)
class ModelServiceArgs:
    spec: ModelServiceSpec
    image_repository: pulumi.Input[str]
    namespace: str = "models"
    model: ModelAccess | None = None
    allowed_namespaces: tuple[str, ...] = ()
    monitoring_namespace: str = "monitoring"
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
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns", metadata={"name": args.namespace}, opts=pulumi.ResourceOptions(parent=self)
        )
        network_policies.apply(
            f"{name}-policy",
            args.namespace,
            network_policies.baseline(args.namespace),
            parent=self,
            depends_on=[namespace],
        )
        feedback_secret = self._feedback_secret(name, args.namespace, namespace)
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
        if args.model is not None:
            role = self._reader_role(name, args.model, args.namespace)
            values["serviceAccount"]["roleArn"] = role.arn
            uri = args.model.artifact.archive_uri()
            values["model"] = {**values.get("model", {}), "name": "wine-classifier", "uri": uri}
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="model-service",
            namespace=args.namespace,
            chart=project_path(CHART),
            values=values,
            timeout=600,
            # Without a model source no pod can become ready: do not hold `pulumi up` for it
            # (ModelNotReady fires instead).
            skip_await=args.model is None and not values.get("model", {}).get("volume"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, feedback_secret, *args.after]),
        )
        self.service_name = "model-service"
        self.register_outputs({"namespace": args.namespace, "service": self.service_name})

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

    def _reader_role(self, name: str, model: ModelAccess, namespace: str) -> Any:
        """Read-only access to `<prefix>/*` of the models bucket (and decrypting it), nothing more."""
        artifact = model.artifact
        policy = pulumi.Output.all(artifact.bucket.arn, artifact.bucket.kms_key_arn).apply(
            lambda arns: policy_document(
                *artifact.read_statements(arns[0], arns[1]),
                {
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": [arns[0]],
                    "Condition": {"StringLike": {"s3:prefix": [f"{artifact.prefix}/*"]}},
                },
            )
        )
        return model.irsa.role(
            f"{name}-model-reader",
            namespace=namespace,
            service_account=SERVICE_ACCOUNT,
            inline_policy=policy,
            opts=pulumi.ResourceOptions(parent=self),
        )

"""Whole stacks under mocks: the output contract, tags, and what the local stack leaves out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.support.pulumi_harness import REPO, StackRun, run_program

# The contract CI jobs read with `pulumi stack output --json`. Renaming or dropping one breaks
# them: change this list only together with the README's outputs table and a release note.
COMMON_OUTPUTS = {
    "stack",
    "awsEnabled",
    "grafanaUrl",
    "grafanaPortForward",
    "grafanaAdminPassword",
    "modelFeedbackToken",
    "prometheusService",
    "alertmanagerService",
}
AWS_OUTPUTS = {
    "region",
    "vpcId",
    "privateSubnetIds",
    "clusterName",
    "kubeconfig",
    "oidcProviderArn",
    "ecrRepositoryUrls",
    "modelServiceRepositoryUrl",
    "bucketNames",
    "datasetsBucket",
    "modelsBucket",
    "logsBucket",
    "captureBucket",
    "artifactsKmsKeyArn",
    "trainingJob",
    "modelPackageGroup",
}
# Stacks without AWS: the in-cluster object store.
LOCAL_OUTPUTS = {"objectStoreEndpoint", "objectStoreRootPassword"}
# Exist once the managed inference path is built (sagemakerEnabled and a modelVersion).
MANAGED_OUTPUTS = {"inferenceApiUrl", "sagemakerEndpointName", "inferenceFunctionName", "alarmTopicArn"}
SECRET_OUTPUTS = {"kubeconfig", "grafanaAdminPassword", "modelFeedbackToken", "objectStoreRootPassword"}


@pytest.fixture(scope="module", params=["local", "dev", "prod"])
def run(request: pytest.FixtureRequest) -> StackRun:
    return run_program(request.param)


def test_outputs_match_the_contract(run: StackRun) -> None:
    expected = COMMON_OUTPUTS | (AWS_OUTPUTS if run.outputs["awsEnabled"] else LOCAL_OUTPUTS)
    assert set(run.outputs) == expected
    assert run.secret_outputs == (SECRET_OUTPUTS & expected)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_managed_inference_outputs_join_the_contract_once_a_model_is_set(stack: str) -> None:
    run = run_program(stack, overrides={"modelVersion": "v1"})
    assert set(run.outputs) == COMMON_OUTPUTS | AWS_OUTPUTS | MANAGED_OUTPUTS
    assert run.outputs["sagemakerEndpointName"] == f"mlops-{stack}-wine"


def test_local_stack_creates_no_aws_resource() -> None:
    run = run_program("local")
    assert not [r for r in run.resources if r.type.startswith(("aws:", "eks:", "pulumi:providers:aws"))]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_aws_resource_goes_through_the_tagging_provider(stack: str) -> None:
    run = run_program(stack, overrides={"modelVersion": "v1"})
    provider = run.one("pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert tags == {
        "project": "mlops-platform",
        "stack": stack,
        "owner": "platform-team",
        "cost-center": "mlops",
        "managed-by": "pulumi",
    }
    aws_resources = [r for r in run.resources if r.type.startswith("aws:")]
    assert aws_resources
    # A provider reference is "<provider URN>::<provider id>"; the URN ends in type::name.
    untagged = [r.name for r in aws_resources if not (r.provider or "").endswith("$pulumi:providers:aws::aws::aws-id")]
    assert untagged == []


def test_components_use_their_type_tokens() -> None:
    run = run_program("dev", overrides={"modelVersion": "v1"})
    tokens = {r.type for r in run.resources if r.type.startswith("mlops:")}
    assert tokens == {
        "mlops:network:Network",
        "mlops:cluster:Cluster",
        "mlops:cluster:ClusterServices",
        "mlops:registry:Registry",
        "mlops:storage:ArtifactStore",
        "mlops:observability:Observability",
        "mlops:workload:ModelService",
        "mlops:inference:SageMakerEndpoint",
        "mlops:inference:InferenceApi",
        "mlops:inference:DriftMonitor",
        "mlops:delivery:TrainingRole",
        "mlops:delivery:ModelRegistry",
    }


def _readme_table(heading: str) -> list[list[str]]:
    """The first Markdown table under `heading` in the README, without its header rows."""
    section = (REPO / "README.md").read_text().split(heading, 1)[1]
    lines = section.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return table[2:]


def test_readme_documents_every_output() -> None:
    documented = {re.sub(r"`", "", row[0]) for row in _readme_table("## Stack outputs")}
    assert documented == COMMON_OUTPUTS | AWS_OUTPUTS | LOCAL_OUTPUTS | MANAGED_OUTPUTS


def test_readme_documents_every_config_key_with_its_type_and_default() -> None:
    project = yaml.safe_load(Path(REPO / "Pulumi.yaml").read_text())["config"]
    rows = {re.sub(r"`", "", row[0]): row for row in _readme_table("## Configuration")}
    from stacks.config import SECRET_KEYS

    assert set(rows) == set(project) | set(SECRET_KEYS) | {"aws:region"}
    for key, spec in project.items():
        assert rows[key][1] == spec["type"], key
        default = spec["default"]
        shown = default if isinstance(default, str) and default else json.dumps(default)
        assert rows[key][2].strip("`") == shown, key
    for key in SECRET_KEYS:
        assert rows[key][1] == "secret", key


def test_the_local_stack_publishes_the_model_make_up_built_and_waits_for_it() -> None:
    """Without a model the release does not hold `pulumi up` (no pod can become ready). With the
    modelVersion `make up` sets, a Job copies the model from the image into the in-cluster object
    store's models bucket, and the pods load it from there through MODEL_URI, like on AWS; `pulumi
    up` waits for the Job, then for the pods."""
    for version, waits in (("", False), ("20261125T000000Z-abc", True)):
        run = run_program("local", overrides={"modelVersion": version, "modelServiceImageTag": f"local-{version}"})
        release = next(r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "model-service")
        assert bool(release.inputs.get("skipAwait")) is not waits
        values = release.inputs["values"]
        assert values["image"]["tag"] == f"local-{version}"
        assert values["objectStore"] == {"credentialsSecret": "model-service-object-store"}
        assert values["productionData"]["captureUri"] == "s3://capture/cluster/model-service"
        jobs = run.of_type("kubernetes:batch/v1:Job")
        if not version:
            assert "uri" not in values.get("model", {}) and not jobs
            continue
        assert values["model"]["uri"] == f"s3://models/wine/{version}/model.tar.gz"
        (job,) = jobs
        (container,) = job.inputs["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"model-service:local-{version}"
        assert container["args"] == ["publish", "--from", "/opt/ml/model", "--to", "s3://models/wine"]
        assert container["envFrom"] == [{"secretRef": {"name": "model-publisher-object-store"}}]
        assert job.urn in release.dependencies
        minio = next(r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "minio")
        assert minio.urn in job.dependencies

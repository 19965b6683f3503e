"""StackConfig: every stack file loads, and every kind of bad value stops the program with one
message naming the key, the value and what is allowed."""

from __future__ import annotations

import re

import pytest

from stacks.config import ConfigError
from tests.support.pulumi_harness import run_program


def problems_of(stack: str, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as caught:
        run_program(stack, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


def test_dev_and_prod_differ_only_through_their_stack_files() -> None:
    dev = run_program("dev")
    prod = run_program("prod")
    assert len(dev.outputs["privateSubnetIds"]) == 2
    assert len(prod.outputs["privateSubnetIds"]) == 3


@pytest.mark.parametrize(
    ("overrides", "key", "value", "allowed"),
    [
        (
            {"systemNodeMinSize": 5, "systemNodeMaxSize": 3},
            "systemNodeMinSize",
            "5",
            "must not exceed systemNodeMaxSize (3)",
        ),
        ({"workloadsNodeDesiredSize": 12}, "workloadsNodeDesiredSize", "12", "must lie between"),
        (
            {"workloadsNodeInstanceTypes": ["zz9.large"]},
            "workloadsNodeInstanceTypes",
            '"zz9.large"',
            "unknown instance family 'zz9'",
        ),
        (
            {"systemNodeInstanceTypes": ["m6i.hugeish"]},
            "systemNodeInstanceTypes",
            '"m6i.hugeish"',
            "unknown size for family 'm6i'; allowed: ",
        ),
        (
            {"systemNodeInstanceTypes": ["m6g.large", "m6i.large"]},
            "systemNodeInstanceTypes",
            "",
            "mixes arm64 (Graviton) and x86_64",
        ),
        ({"availabilityZones": ["us-east-1a"]}, "availabilityZones", '["us-east-1a"]', "needs at least 2 AZs"),
        (
            {"availabilityZones": ["us-east-1a", "eu-west-1b"]},
            "availabilityZones",
            '"eu-west-1b"',
            "is not an AZ of aws:region us-east-1",
        ),
        ({"vpcCidr": "10.0.0.0/33"}, "vpcCidr", '"10.0.0.0/33"', "not an IPv4 CIDR"),
        ({"vpcCidr": "10.0.0.1/16"}, "vpcCidr", '"10.0.0.1/16"', "has host bits set"),
        ({"vpcCidr": "10.0.0.0/26"}, "vpcCidr", '"10.0.0.0/26"', "prefix must be /16 to /24"),
        (
            {"vpcCidr": "10.0.0.0/24", "availabilityZones": [f"us-east-1{z}" for z in "abcd"]},
            "vpcCidr",
            '"10.0.0.0/24"',
            "too small for 4 AZs",
        ),
        ({"clusterPublicAccessCidrs": ["office"]}, "clusterPublicAccessCidrs", '"office"', "not an IPv4 CIDR"),
        ({"natGateways": "double"}, "natGateways", '"double"', "must be one of single, perAz"),
        ({"workloadsCapacityType": "spot"}, "workloadsCapacityType", '"spot"', "must be one of ON_DEMAND, SPOT"),
        ({"logRetentionDays": 10}, "logRetentionDays", "10", "CloudWatch accepts only 1, 3, 5, 7, 14"),
        (
            {"ecrRepositories": ["Model_Service"]},
            "ecrRepositories",
            '"Model_Service"',
            "is not a valid ECR repository name",
        ),
        ({"ecrRepositories": ["other"]}, "ecrRepositories", '["other"]', "must include model-service"),
        ({"ecrKeepImages": 0}, "ecrKeepImages", "0", "must be at least 1"),
        ({"kubernetesVersion": "latest"}, "kubernetesVersion", '"latest"', "must be a minor version"),
        ({"clusterAdminRoleArns": ["admin"]}, "clusterAdminRoleArns", '"admin"', "is not an IAM role ARN"),
        ({"systemNodeMinSize": "two"}, "systemNodeMinSize", '"two"', "must be a whole number"),
        ({"flowLogs": "yes"}, "flowLogs", '"yes"', "must be true or false"),
        ({"prometheusRetention": "two weeks"}, "prometheusRetention", '"two weeks"', "a Prometheus duration"),
        ({"lokiRetentionHours": 2}, "lokiRetentionHours", "2", "at least 24"),
        ({"tracesRetentionHours": 0}, "tracesRetentionHours", "0", "at least 1"),
        ({"tracesRetentionHours": 3000}, "tracesRetentionHours", "3000", "exceed logsExpirationDays x 24 (2160)"),
        ({"modelServiceTraceSampleRatio": "1.5"}, "modelServiceTraceSampleRatio", '"1.5"', "between 0 and 1"),
        ({"modelServiceTraceSampleRatio": "nan"}, "modelServiceTraceSampleRatio", '"nan"', "between 0 and 1"),
        ({"modelServiceTraceSampleRatio": "1%"}, "modelServiceTraceSampleRatio", '"1%"', "must be a number"),
        ({"modelServiceProfile": "staging"}, "modelServiceProfile", '"staging"', "one of local, dev, prod"),
        (
            {"modelServiceMinReplicas": 5, "modelServiceMaxReplicas": 2},
            "modelServiceMinReplicas",
            "5",
            "must not exceed modelServiceMaxReplicas (2)",
        ),
        ({"modelServiceImageTag": "v 1"}, "modelServiceImageTag", '"v 1"', "valid image tag"),
        ({"aws:region": "us-east-9"}, "aws:region", '"us-east-9"', "unknown AWS region"),
        ({"grafanaCertificateArn": ""}, "grafanaCertificateArn", '""', "served over HTTPS only"),
        ({"grafanaHostname": "Grafana!"}, "grafanaHostname", '"Grafana!"', "required on AWS stacks"),
        ({"grafanaAllowedCidrs": ["0.0.0.0/0"]}, "grafanaAllowedCidrs", '"0.0.0.0/0"', "whole internet"),
    ],
)
def test_invalid_value_names_key_value_and_what_is_allowed(
    overrides: dict[str, object], key: str, value: str, allowed: str
) -> None:
    message = problems_of("prod", overrides=overrides)
    full_key = key if ":" in key else f"mlops-platform:{key}"
    line = next((line for line in message.splitlines() if line.startswith(f"- {full_key} = ")), None)
    assert line is not None, message
    assert value in line
    assert allowed in line
    assert "--stack prod" in message


def test_missing_region_is_reported_for_an_aws_stack() -> None:
    message = problems_of("dev", remove=("aws:region",))
    assert "- aws:region = (not set): required when awsEnabled is true" in message


def test_slack_channel_without_its_webhook_secret_is_a_missing_required_secret() -> None:
    message = problems_of("prod", overrides={"alertSlackChannel": "#ml-alerts"})
    assert "- mlops-platform:alertSlackWebhookUrl = (not set): required because alertSlackChannel is set" in message
    assert "pulumi config set --secret mlops-platform:alertSlackWebhookUrl" in message


def test_email_receiver_needs_password_secret_smarthost_and_sender() -> None:
    message = problems_of("dev", overrides={"alertEmailTo": "oncall@example.com"})
    assert "mlops-platform:alertSmtpPassword = (not set)" in message
    assert "mlops-platform:alertSmtpSmarthost" in message
    assert "mlops-platform:alertSmtpFrom" in message


def test_a_secret_stored_in_plain_text_is_refused_without_echoing_it() -> None:
    message = problems_of("dev", overrides={"alertWebhookUrl": "https://hooks.example.com/T0K3N"})
    assert "alertWebhookUrl" in message and "plain text" in message
    assert "T0K3N" not in message


def test_secrets_given_as_secrets_are_accepted_and_stay_secret() -> None:
    run = run_program(
        "dev",
        overrides={"alertSlackChannel": "#ml-alerts"},
        secrets={"alertSlackWebhookUrl": "https://hooks.example.com/T0K3N"},
    )
    assert run.outputs["stack"] == "dev"


def test_unknown_key_is_reported_with_a_suggestion() -> None:
    message = problems_of("dev", overrides={"vpcCdir": "10.0.0.0/16"})
    assert "- mlops-platform:vpcCdir: unknown key; did you mean vpcCidr?" in message


def test_every_problem_is_listed_in_one_message() -> None:
    message = problems_of("prod", overrides={"vpcCidr": "nope", "natGateways": "none", "ecrKeepImages": 0})
    assert re.search(r"has 3 configuration problem\(s\)", message)


def test_local_stack_needs_no_aws_settings() -> None:
    run = run_program("local", remove=("aws:region",))
    assert run.outputs["awsEnabled"] is False
    assert "region" not in run.outputs


@pytest.mark.parametrize(
    ("overrides", "allowed"),
    [
        ({"clusterPublicAccessCidrs": ["0.0.0.0/0"]}, "opens the cluster API to the whole internet"),
        ({"clusterPublicAccessCidrs": []}, "needs your VPN or office ranges while clusterEndpointPublicAccess is true"),
    ],
)
def test_the_cluster_api_is_never_open_to_the_internet(overrides: dict, allowed: str) -> None:
    message = problems_of("dev", overrides=overrides)
    assert "mlops-platform:clusterPublicAccessCidrs = " in message and allowed in message


def test_a_private_only_cluster_api_needs_no_public_ranges() -> None:
    run_program("dev", overrides={"clusterPublicAccessCidrs": [], "clusterEndpointPublicAccess": False})


def test_every_enum_is_declared_once_and_documented_where_users_read_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each enum key is read with its component's `Literal` type; Pulumi.yaml's description and
    the README's row name exactly those values, and the default is one of them."""
    import yaml

    from stacks.config.reader import Reader, choices
    from tests.support.pulumi_harness import REPO

    recorded: dict[str, tuple[str, ...]] = {}
    original = Reader.choice

    def spy(self: Reader, key: str, literal: object) -> object:
        recorded[key] = choices(literal)
        return original(self, key, literal)

    monkeypatch.setattr(Reader, "choice", spy)
    run_program("prod")
    assert set(recorded) == {
        "natGateways",
        "workloadsCapacityType",
        "modelServiceProfile",
        "sagemakerMode",
        "apiAuthorization",
    }
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    readme = (REPO / "README.md").read_text()
    for key, values in recorded.items():
        assert values, key
        assert set(re.findall(r"`([^`]+)`", declared[key]["description"])) == set(values), key
        assert declared[key]["default"] in values, key
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{key}` |"))
        assert all(f"`{value}`" in row for value in values), key


def test_grafana_is_internal_by_default_and_internet_facing_only_for_the_listed_ranges() -> None:
    def grafana_ingress(run: object) -> dict[str, str]:
        release = next(
            r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "kube-prometheus-stack"
        )  # type: ignore[attr-defined]
        return release.inputs["values"]["grafana"]["ingress"]["annotations"]

    internal = grafana_ingress(run_program("dev"))
    assert internal["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert "alb.ingress.kubernetes.io/inbound-cidrs" not in internal
    public = grafana_ingress(run_program("dev", overrides={"grafanaAllowedCidrs": ["198.51.100.0/24"]}))
    assert public["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert public["alb.ingress.kubernetes.io/inbound-cidrs"] == "198.51.100.0/24"
    local = run_program("local")
    assert local.outputs["grafanaUrl"] == "http://localhost:3000"
    assert local.outputs["grafanaPortForward"].startswith("kubectl -n monitoring port-forward")

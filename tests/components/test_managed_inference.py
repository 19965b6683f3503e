"""SageMakerEndpoint and InferenceApi under mocks, per stack: serverless vs provisioned, data
capture, autoscaling, IAM scoped to exact ARNs, throttling, authorization, alarms to the topic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.config import ConfigError
from tests.support.lambda_package import imported_project_modules, unpack
from tests.support.pulumi_harness import FAKE_ACCOUNT, Registered, StackRun, run_program
from tests.support.runbooks import RUNBOOK_BASE_URL, runbook_anchors, runbook_section

VERSION = "20261125T000000Z-abcdef12"
MANAGED_TYPES = ("aws:sagemaker/", "aws:apigatewayv2/", "aws:lambda/", "aws:sns/", "aws:appautoscaling/")


@pytest.fixture(scope="module", params=["dev", "prod"])
def run(request: pytest.FixtureRequest) -> StackRun:
    return run_program(request.param, overrides={"modelVersion": VERSION, "alarmEmails": ["oncall@example.com"]})


def policy(run: StackRun, name: str) -> list[dict[str, Any]]:
    return json.loads(run.one("aws:iam/rolePolicy:RolePolicy", name).inputs["policy"])["Statement"]


def endpoint_config(run: StackRun) -> dict[str, Any]:
    return run.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs


def test_dev_is_serverless_without_sagemaker_capture_and_the_proxy_captures() -> None:
    run = run_program("dev", overrides={"modelVersion": VERSION})
    (variant,) = endpoint_config(run)["productionVariants"]
    assert variant["serverlessConfig"] == {"memorySizeInMb": 2048, "maxConcurrency": 5}
    assert "instanceType" not in variant and "dataCaptureConfig" not in endpoint_config(run)
    assert run.of_type("aws:appautoscaling/target:Target") == []
    assert run.one("aws:sagemaker/model:Model").inputs["enableNetworkIsolation"] is False
    env = run.one("aws:lambda/function:Function", "inference-api-function").inputs["environment"]["variables"]
    assert (env["CAPTURE_BUCKET"], env["CAPTURE_PREFIX"], env["CAPTURE_PERCENT"]) == (
        "mlops-dev-capture-0001",
        "mlops-dev-wine/proxy",
        "100",
    )
    capture = next(s for s in policy(run, "inference-api-function") if s["Sid"] == "WriteCapture")
    assert capture["Resource"] == ["arn:aws:s3:::mlops-dev-capture-0001/mlops-dev-wine/proxy/*"]


def test_prod_is_provisioned_with_capture_kms_and_autoscaling() -> None:
    run = run_program("prod", overrides={"modelVersion": VERSION})
    config = endpoint_config(run)
    (variant,) = config["productionVariants"]
    assert (variant["instanceType"], variant["initialInstanceCount"]) == ("ml.m5.large", 2)
    capture = config["dataCaptureConfig"]
    assert capture["enableCapture"] is True and capture["initialSamplingPercentage"] == 20
    assert capture["destinationS3Uri"] == "s3://mlops-prod-capture-0001/mlops-prod-wine"
    assert {o["captureMode"] for o in capture["captureOptions"]} == {"Input", "Output"}
    assert capture["kmsKeyId"] == config["kmsKeyArn"] == f"arn:aws:mock:us-east-1:{FAKE_ACCOUNT}:key/artifacts-key"
    target = run.one("aws:appautoscaling/target:Target").inputs
    assert (target["minCapacity"], target["maxCapacity"]) == (2, 6)
    assert target["resourceId"] == "endpoint/mlops-prod-wine/variant/primary"
    scaling = run.one("aws:appautoscaling/policy:Policy").inputs["targetTrackingScalingPolicyConfiguration"]
    assert scaling["targetValue"] == 600
    assert scaling["predefinedMetricSpecification"]["predefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert run.one("aws:sagemaker/model:Model").inputs["enableNetworkIsolation"] is True
    assert (
        "CAPTURE_BUCKET"
        not in run.one("aws:lambda/function:Function", "inference-api-function").inputs["environment"]["variables"]
    )


def test_the_model_serves_the_registry_image_and_the_configured_version(run: StackRun) -> None:
    stack = run.outputs["stack"]
    container = run.one("aws:sagemaker/model:Model").inputs["primaryContainer"]
    assert container["image"] == f"{FAKE_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/mlops-{stack}/model-service:0.1.0"
    assert container["modelDataUrl"] == f"s3://mlops-{stack}-models-0001/wine/{VERSION}/model.tar.gz"
    assert run.one("aws:sagemaker/endpoint:Endpoint").inputs["name"] == f"mlops-{stack}-wine"


def _statements(run: StackRun) -> list[dict[str, Any]]:
    return [s for name in ("sagemaker-execution", "inference-api-function") for s in policy(run, name)]


def test_iam_actions_are_named_and_resources_are_exact(run: StackRun) -> None:
    for statement in _statements(run):
        assert all("*" not in action for action in statement["Action"]), statement
        if statement["Resource"] == "*":
            assert statement["Action"] == ["ecr:GetAuthorizationToken"], statement  # takes no resource
    stack = run.outputs["stack"]
    execution = {s["Sid"]: s for s in policy(run, "sagemaker-execution")}
    assert execution["ReadModelArtifact"]["Resource"] == [f"arn:aws:s3:::mlops-{stack}-models-0001/wine/*"]
    assert execution["PullModelImage"]["Resource"] == [
        f"arn:aws:mock:us-east-1:{FAKE_ACCOUNT}:repository/mlops-{stack}/model-service"
    ]
    log_group = f"arn:aws:logs:us-east-1:{FAKE_ACCOUNT}:log-group:/aws/sagemaker/Endpoints/mlops-{stack}-wine"
    assert execution["EndpointLogs"]["Resource"] == [log_group, f"{log_group}:*"]
    proxy = {s["Sid"]: s for s in policy(run, "inference-api-function")}
    assert proxy["InvokeTheEndpoint"]["Resource"] == [
        f"arn:aws:sagemaker:us-east-1:{FAKE_ACCOUNT}:endpoint/mlops-{stack}-wine"
    ]
    assert proxy["OwnLogs"]["Resource"] == [
        f"arn:aws:logs:us-east-1:{FAKE_ACCOUNT}:log-group:/aws/lambda/mlops-{stack}-inference-proxy:*"
    ]
    trusts = {
        json.loads(run.one("aws:iam/role:Role", name).inputs["assumeRolePolicy"])["Statement"][0]["Principal"][
            "Service"
        ]
        for name in ("sagemaker-execution", "inference-api-function")
    }
    assert trusts == {"sagemaker.amazonaws.com", "lambda.amazonaws.com"}


def test_only_this_api_may_invoke_the_function(run: StackRun) -> None:
    permission = run.one("aws:lambda/permission:Permission", "inference-api-invoke").inputs
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["sourceArn"] == f"arn:aws:execute-api:us-east-1:{FAKE_ACCOUNT}:inference-api-api-id/*/*"


def test_the_api_is_throttled_access_logged_and_never_anonymous(run: StackRun) -> None:
    expected = {"dev": (20, 40), "prod": (200, 400)}[run.outputs["stack"]]
    stage = run.one("aws:apigatewayv2/stage:Stage").inputs
    route_settings = stage["defaultRouteSettings"]
    assert (route_settings["throttlingRateLimit"], route_settings["throttlingBurstLimit"]) == expected
    access_logs = run.named("inference-api-access-logs").inputs
    assert stage["accessLogSettings"]["destinationArn"].endswith(f":log-group:{access_logs['name']}")
    assert json.loads(stage["accessLogSettings"]["format"])["status"] == "$context.status"
    retention = {"dev": 7, "prod": 90}[run.outputs["stack"]]
    for log_group in run.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert log_group.inputs["retentionInDays"] == retention, log_group.name
    routes = {r.inputs["routeKey"]: r.inputs for r in run.of_type("aws:apigatewayv2/route:Route")}
    assert set(routes) == {"POST /predict", "POST /feedback", "GET /health"}
    assert {r["authorizationType"] for r in routes.values()} == {"AWS_IAM"}
    integration = run.one("aws:apigatewayv2/integration:Integration").inputs
    assert (integration["integrationType"], integration["payloadFormatVersion"]) == ("AWS_PROXY", "2.0")


def test_jwt_authorization_puts_an_authorizer_on_every_route() -> None:
    run = run_program(
        "prod",
        overrides={
            "modelVersion": VERSION,
            "apiAuthorization": "jwt",
            "apiJwtIssuer": "https://auth.example.com/",
            "apiJwtAudiences": ["inference"],
        },
    )
    authorizer = run.one("aws:apigatewayv2/authorizer:Authorizer").inputs
    assert authorizer["authorizerType"] == "JWT"
    assert authorizer["jwtConfiguration"] == {"issuer": "https://auth.example.com/", "audiences": ["inference"]}
    for route in run.of_type("aws:apigatewayv2/route:Route"):
        assert (route.inputs["authorizationType"], route.inputs["authorizerId"]) == ("JWT", "inference-api-jwt-id")


def _alarms(run: StackRun) -> dict[str, Registered]:
    return {
        r.inputs["name"].split("-inference-", 1)[1]: r for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }


def test_alarms_cover_the_path_and_notify_the_topic(run: StackRun) -> None:
    stack = run.outputs["stack"]
    alarms = _alarms(run)
    assert set(alarms) == {
        "lambda-errors",
        "lambda-throttles",
        "api-5xx-rate",
        "api-latency-p99",
        "model-latency-p99",
        "invocation-errors",
        "feature-drift",
        "prediction-shift",
        "accuracy",
    }
    topic_arn = run.outputs["alarmTopicArn"]
    for alarm in alarms.values():
        assert alarm.inputs["alarmActions"] == alarm.inputs["okActions"] == [topic_arn]
        url = alarm.inputs["alarmDescription"].rsplit("runbook: ", 1)[1]
        assert url == RUNBOOK_BASE_URL + "managed-inference"
        assert "managed-inference" in runbook_anchors()
        # The runbook says what to do for this very alarm.
        assert f"**{alarm.inputs['name'].split('-inference-', 1)[1]}**" in runbook_section("managed-inference")
    latency_ms, model_ms = {"dev": (1000, 250), "prod": (500, 100)}[stack]
    assert alarms["api-latency-p99"].inputs["threshold"] == latency_ms
    assert alarms["model-latency-p99"].inputs["threshold"] == model_ms * 1000  # microseconds
    assert alarms["model-latency-p99"].inputs["dimensions"] == {
        "EndpointName": f"mlops-{stack}-wine",
        "VariantName": "primary",
    }
    queries = {q["id"]: q for q in alarms["api-5xx-rate"].inputs["metricQueries"]}
    assert queries["errors"]["metric"]["metricName"] == "5xx" and queries["requests"]["metric"]["metricName"] == "Count"
    assert queries["rate"]["returnData"] is True
    topic = run.one("aws:sns/topic:Topic").inputs
    assert topic["kmsMasterKeyId"] == f"arn:aws:mock:us-east-1:{FAKE_ACCOUNT}:key/inference-api-alarms"
    key_policy = json.loads(run.one("aws:kms/key:Key", "inference-api-alarms").inputs["policy"])["Statement"]
    assert {"Service": "cloudwatch.amazonaws.com"} in [s["Principal"] for s in key_policy]
    subscription = run.one("aws:sns/topicSubscription:TopicSubscription").inputs
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "oncall@example.com")


def test_the_proxy_is_packaged_from_this_repository(run: StackRun) -> None:
    function = run.one("aws:lambda/function:Function", "inference-api-function").inputs
    assert (function["handler"], function["runtime"], function["timeout"]) == ("handler.handle", "python3.12", 28)
    env = function["environment"]["variables"]
    assert env["ENDPOINT_NAME"] == f"mlops-{run.outputs['stack']}-wine" and env["MODEL_VERSION"] == VERSION


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_nothing_managed_is_built_until_a_model_version_is_set(stack: str, caplog: pytest.LogCaptureFixture) -> None:
    run = run_program(stack)
    # The model registry comes first: a version is registered and approved there before it is served.
    registry = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
    assert [r.name for r in run.resources if r.type.startswith(MANAGED_TYPES) and r.type != registry] == []
    assert "inferenceApiUrl" not in run.outputs
    # The stacks that want it say why it is missing and how to get it.
    said = caplog.text  # the engine's warnings (a logger under mocks)
    assert ("modelVersion is empty" in said) == (stack != "local")
    if stack != "local":
        assert f"make release-model STACK={stack}" in said


@pytest.mark.parametrize(
    ("overrides", "key", "allowed"),
    [
        ({"sagemakerMode": "provisioned", "sagemakerInstanceCount": 1}, "sagemakerInstanceCount", "at least 2"),
        ({"sagemakerInstanceCount": 5, "sagemakerMaxInstanceCount": 3}, "sagemakerInstanceCount", "must not exceed"),
        ({"sagemakerServerlessMemoryMb": 3000}, "sagemakerServerlessMemoryMb", "multiple of 1024"),
        ({"sagemakerServerlessMaxConcurrency": 500}, "sagemakerServerlessMaxConcurrency", "at most 200"),
        ({"sagemakerInstanceType": "ml.m5.largeish"}, "sagemakerInstanceType", "did you mean ml.m5.large"),
        ({"sagemakerMode": "spot"}, "sagemakerMode", "must be one of serverless, provisioned"),
        ({"sagemakerDataCapturePercent": 120}, "sagemakerDataCapturePercent", "at most 100"),
        ({"apiAuthorization": "none"}, "apiAuthorization", "must be one of iam, jwt"),
        ({"apiAuthorization": "jwt"}, "apiJwtIssuer", "https:// URL because apiAuthorization is jwt"),
        ({"apiAuthorization": "jwt", "apiJwtIssuer": "https://a.example/"}, "apiJwtAudiences", "at least one audience"),
        ({"alarmEmails": ["oncall"]}, "alarmEmails", "not an e-mail address"),
    ],
)
def test_bad_managed_inference_config_names_key_and_fix(overrides: dict, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run_program("dev", overrides=overrides)
    message = str(caught.value)
    assert f"mlops-platform:{key} = " in message and allowed in message, message
    assert f"fix: pulumi config set mlops-platform:{key} <value> --stack dev" in message


def test_sagemaker_needs_aws() -> None:
    with pytest.raises(ConfigError, match="sagemakerEnabled = true: needs awsEnabled: true"):
        run_program("local", overrides={"sagemakerEnabled": True})


def test_feedback_through_the_api_signs_with_a_generated_secret_and_keeps_labels_by_endpoint(run: StackRun) -> None:
    stack = run.outputs["stack"]
    secret = run.one("aws:secretsmanager/secret:Secret")
    version = run.one("aws:secretsmanager/secretVersion:SecretVersion")
    assert version.inputs["secretString"]["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"
    assert secret.urn in version.dependencies
    env = run.one("aws:lambda/function:Function", "inference-api-function").inputs["environment"]["variables"]
    assert env["GROUND_TRUTH_BUCKET"] == run.outputs["captureBucket"]
    assert env["GROUND_TRUTH_PREFIX"] == f"ground-truth/sagemaker/mlops-{stack}-wine"
    assert env["CLASS_NAMES"] == "class_0,class_1,class_2"
    proxy = {s["Sid"]: s for s in policy(run, "inference-api-function")}
    assert proxy["ReadSigningKey"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert proxy["ReadSigningKey"]["Resource"] == [env["FEEDBACK_SECRET_ARN"]]
    capture = f"arn:aws:s3:::{run.outputs['captureBucket']}"
    assert proxy["WriteLabels"]["Resource"] == [f"{capture}/ground-truth/sagemaker/mlops-{stack}-wine/*"]
    routes = {r.inputs["routeKey"]: r.inputs for r in run.of_type("aws:apigatewayv2/route:Route")}
    assert routes["POST /feedback"]["authorizationType"] == routes["POST /predict"]["authorizationType"]


def test_the_class_names_the_platform_passes_on_are_the_ones_training_writes(artifact: Any) -> None:
    from components.model_service import CLASS_NAMES

    assert tuple(json.loads((artifact / "metadata.json").read_text())["class_names"]) == CLASS_NAMES


def test_the_drift_monitor_runs_on_a_schedule_reads_only_its_endpoints_data_and_alarms(run: StackRun) -> None:
    stack = run.outputs["stack"]
    endpoint = f"mlops-{stack}-wine"
    function = run.one("aws:lambda/function:Function", "drift-monitor-function").inputs
    env = function["environment"]["variables"]
    assert env["CAPTURE_PREFIXES"] == f"{endpoint}/{endpoint}/primary,{endpoint}/proxy"
    assert env["GROUND_TRUTH_PREFIX"] == f"ground-truth/sagemaker/{endpoint}"
    assert env["MODEL_ARCHIVE_URI"] == f"s3://mlops-{stack}-models-0001/wine/{VERSION}/model.tar.gz"
    schedule = run.one("aws:cloudwatch/eventRule:EventRule", "drift-monitor-schedule").inputs
    assert schedule["scheduleExpression"] == "rate(15 minutes)"
    permission = run.one("aws:lambda/permission:Permission", "drift-monitor-schedule").inputs
    assert permission["principal"] == "events.amazonaws.com"
    statements = {s["Sid"]: s for s in policy(run, "drift-monitor-function")}
    capture = f"arn:aws:s3:::{run.outputs['captureBucket']}"
    assert statements["ReadCapturedData"]["Resource"] == [
        f"{capture}/{endpoint}/{endpoint}/primary/*",
        f"{capture}/{endpoint}/proxy/*",
        f"{capture}/ground-truth/sagemaker/{endpoint}/*",
    ]
    assert statements["ReadServedModel"]["Resource"] == [
        f"arn:aws:s3:::mlops-{stack}-models-0001/wine/{VERSION}/model.tar.gz"
    ]
    metrics = statements["PublishQualityMetrics"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "MLOps/ModelQuality"}}
    alarms = _alarms(run)
    assert alarms["feature-drift"].inputs["metricName"] == "MaxFeaturePSI"
    assert alarms["accuracy"].inputs["comparisonOperator"] == "LessThanThreshold"
    assert all(
        alarms[name].inputs["dimensions"] == {"EndpointName": endpoint} for name in ("feature-drift", "accuracy")
    )


def test_the_drift_monitor_package_runs_on_its_own(tmp_path: Path) -> None:
    from components.drift_monitor import FUNCTION_FILES

    (modules,) = imported_project_modules(unpack(FUNCTION_FILES, tmp_path))
    assert modules == "['model_service', 'model_service.capture_format', 'model_service.drift_contract']"


def test_a_new_model_reaches_a_provisioned_endpoint_blue_green_and_rolls_back_on_its_alarms(run: StackRun) -> None:
    """Prod (provisioned): a canary share of the capacity first, then the rest, rolled back by
    SageMaker when any alarm on the endpoint fires; every alarm it names is one the stack makes
    on this endpoint. Dev (serverless, where SageMaker has no guardrails): replaced at once."""
    endpoint = run.one("aws:sagemaker/endpoint:Endpoint").inputs
    if run.outputs["stack"] == "dev":
        assert "deploymentConfig" not in endpoint
        return
    config = endpoint["deploymentConfig"]
    routing = config["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"]
    assert routing == {
        "type": "CANARY",
        "canarySize": {"type": "CAPACITY_PERCENT", "value": 10},
        "waitIntervalInSeconds": 600,
    }
    named = [alarm["alarmName"] for alarm in config["autoRollbackConfiguration"]["alarms"]]
    alarms = {alarm.inputs["name"]: alarm.inputs for alarm in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert set(named) == {
        f"mlops-prod-inference-{s}"
        for s in ("invocation-errors", "model-latency-p99", "feature-drift", "prediction-shift", "accuracy")
    }
    for name in named:
        assert alarms[name]["dimensions"]["EndpointName"] == endpoint["name"], name


def test_canary_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="sagemakerCanaryPercent"):
        run_program("prod", overrides={"modelVersion": VERSION, "sagemakerCanaryPercent": 80})
